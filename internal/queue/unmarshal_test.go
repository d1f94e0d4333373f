package queue

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestReceiveCountUnmarshaler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		want  int
	}{
		{"first delivery", map[string]string{"ApproximateReceiveCount": "1"}, 1},
		{"third delivery", map[string]string{"ApproximateReceiveCount": "3", "SentTimestamp": "1"}, 3},
		{"not asked for", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := receiveCountUnmarshaler{}.Unmarshal(&types.Message{
				MessageId: aws.String("m-1"),
				Body:      aws.String(`{"a":1}`),
				MessageAttributes: map[string]types.MessageAttributeValue{
					"correlation_id": {DataType: aws.String("String"), StringValue: aws.String("c-1")},
				},
				Attributes: tc.attrs,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := ReceiveCount(msg); got != tc.want {
				t.Errorf("ReceiveCount = %d, want %d", got, tc.want)
			}
			if msg.UUID != "m-1" || string(msg.Payload) != `{"a":1}` || msg.Metadata.Get("correlation_id") != "c-1" {
				t.Errorf("got %q %s %v, want the default unmarshaling", msg.UUID, msg.Payload, msg.Metadata)
			}
		})
	}
}

package queue

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

type captureClient struct{ got *http.Request }

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	c.got = r
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

// writerToBody is a body like smithy-go's: it implements io.WriterTo, which net/http prefers.
type writerToBody struct{ *bytes.Reader }

func (writerToBody) Close() error { return nil }

// TestClientHidesWriterTo: the SDK's requests reach net/http with a body that has only Read and Close
// (see bodyOnlyClient), and every way Config builds the SDK configuration uses that client.
func TestClientHidesWriterTo(t *testing.T) {
	inner := &captureClient{}
	req, _ := http.NewRequest(http.MethodPost, "http://sqs.local/", nil)
	req.Body = writerToBody{bytes.NewReader([]byte("Action=ReceiveMessage"))}
	if _, err := (bodyOnlyClient{inner}).Do(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := inner.got.Body.(io.WriterTo); ok {
		t.Fatal("the request body still implements io.WriterTo")
	}
	if b, _ := io.ReadAll(inner.got.Body); string(b) != "Action=ReceiveMessage" {
		t.Errorf("body: got %q", b)
	}
	cfg, err := Config{Endpoint: "http://127.0.0.1:1"}.AWS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.HTTPClient.(bodyOnlyClient); !ok {
		t.Errorf("local configuration: HTTP client %T, want bodyOnlyClient", cfg.HTTPClient)
	}
	cfg, err = Config{Region: "eu-west-1"}.AWS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.HTTPClient.(bodyOnlyClient); !ok {
		t.Errorf("AWS configuration: HTTP client %T, want bodyOnlyClient", cfg.HTTPClient)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
)

// TestPoisonCommand: a command that can never be processed ends in the dead-letter queue after 5
// receives, and only it: the commands queued behind it, a business failure among them, are each
// processed once and acked, whatever batch they were received in with it.
func TestPoisonCommand(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	p := s.product("E2E-POISON", 300, 50)

	s.sqs.Send(t, commandQueue, `{"idempotency_key":`, map[string]string{"correlation_id": "e2e-corr-poison"})
	type sent struct {
		key, want string
	}
	var cmds []sent
	for i, c := range []struct {
		customer, product int64
		want              string
	}{
		{1, p, "CONFIRMED"},
		{2, p, "CONFIRMED"},
		{3, 999999, "REJECTED"}, // unknown product: a business answer, acked
		{4, p, "CONFIRMED"},
	} {
		key := fmt.Sprintf("e2e-poison-neighbour-%d", i)
		items := []events.LineItem{{ProductID: c.product, Qty: 1}}
		body, err := json.Marshal(events.PlaceOrder{
			IdempotencyKey: key, RequestHash: events.RequestHash(c.customer, items), CustomerID: c.customer,
			Items: items, CorrelationID: "e2e-corr-" + key, RequestedAt: time.Now().UTC(),
		})
		if err != nil {
			t.Fatal(err)
		}
		s.sqs.Send(t, commandQueue, string(body), map[string]string{"correlation_id": "e2e-corr-" + key, "idempotency_key": key})
		cmds = append(cmds, sent{key, c.want})
	}
	s.worker.start()

	// Each receive of the poison hides it for the 2 s visibility timeout; the fifth one moves it.
	eventually(t, 60*time.Second, "every queued command processed", func() bool {
		for _, c := range cmds {
			if st, _ := s.requestStatus(c.key); st != c.want {
				return false
			}
		}
		return true
	})
	if got := s.ordersWithProduct(p); got != 3 {
		t.Errorf("orders with the product: got %d, want 3", got)
	}
	if got := s.stock(p); got != 47 {
		t.Errorf("stock: got %d, want 47", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var dead []string
	for ctx.Err() == nil && len(dead) == 0 {
		msgs, err := s.sqs.Drain(ctx, commandQueue+"-dlq")
		if err != nil && ctx.Err() == nil {
			t.Fatalf("drain the dead-letter queue: %v", err)
		}
		for _, m := range msgs {
			dead = append(dead, m.Body)
		}
	}
	if len(dead) != 1 || dead[0] != `{"idempotency_key":` {
		t.Fatalf("dead-letter queue: got %q, want only the undecodable command", dead)
	}
	// Nothing is left on the command queue either: the worker acked every command it could process.
	if msgs := s.sqs.Receive(t, commandQueue, 10); len(msgs) != 0 {
		t.Errorf("command queue: got %d messages left, want none", len(msgs))
	}
}

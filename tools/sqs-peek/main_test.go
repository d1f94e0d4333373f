package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/sqstest"
)

func TestPeekPrintsAndOptionallyDeletes(t *testing.T) {
	srv := sqstest.Start(t, "order-events-tap")
	srv.Send(t, "order-events-tap", `{"event_id":"e1","type":"order.created"}`, map[string]string{"event_type": "order.created"})
	srv.Send(t, "order-events-tap", `not json`, nil)
	env := map[string]string{"AWS_ENDPOINT_URL": srv.Endpoint}
	getenv := func(k string) string { return env[k] }

	// Without -delete the messages stay, and each is printed once even when it becomes visible again.
	var peek bytes.Buffer
	if err := run(context.Background(), []string{"-wait", "1s", "-visibility", "1s"}, getenv, &peek); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(peek.String()), "\n") + 1; n != 2 {
		t.Fatalf("peek printed %d lines, want 2:\n%s", n, peek.String())
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"-wait", "3s", "-delete"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("printed %d lines, want 2:\n%s", len(lines), out.String())
	}
	var first struct {
		Attributes map[string]string `json:"attributes"`
		Body       map[string]any    `json:"body"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Body["type"] != "order.created" || first.Attributes["event_type"] != "order.created" {
		t.Errorf("first line %s: want the JSON body inline and the attribute", lines[0])
	}
	if !strings.Contains(lines[1], `"body":"not json"`) {
		t.Errorf("second line %s: want a non-JSON body as a string", lines[1])
	}
	if left := srv.Receive(t, "order-events-tap", 10); len(left) != 0 {
		t.Errorf("-delete left %d messages", len(left))
	}

	if err := run(context.Background(), []string{"-queue", "missing"}, getenv, &out); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("unknown queue: error %v, want one naming it", err)
	}
}

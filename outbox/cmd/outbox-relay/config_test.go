package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadDefaultsAndMasking(t *testing.T) {
	env := map[string]string{"DB_PASSWORD": "hunter2", "AWS_ENDPOINT_URL": "http://127.0.0.1:4100", "AWS_SECRET_ACCESS_KEY": "topsecret"}
	c, err := load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.DB.Name != "orders" || c.Topic != "order-events" || c.BatchSize != 300 || c.Lanes != 8 || c.MaxAttempts != 5 ||
		c.PollInterval != 250*time.Millisecond || c.SQS.Region != "us-east-1" || c.SQS.Endpoint != "http://127.0.0.1:4100" {
		t.Errorf("defaults: got %+v", c)
	}
	if c.Admin.Addr != "127.0.0.1:9102" || c.Admin.Pprof || c.MetricsPoll != 10*time.Second ||
		strings.Join(c.Queues, ",") != "reporting-order-events,order-events-tap" {
		t.Errorf("metrics defaults: got admin %+v, poll %s, queues %v", c.Admin, c.MetricsPoll, c.Queues)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	attrs := buf.String()
	if strings.Contains(attrs, "hunter2") || strings.Contains(attrs, "topsecret") || !strings.Contains(attrs, `"endpoint":"http://127.0.0.1:4100"`) {
		t.Errorf("secrets in the start-up log attributes: %s", attrs)
	}

	if _, err := load(func(k string) string {
		return map[string]string{"OUTBOX_MAX_BACKOFF": "forever"}[k]
	}); err == nil || !strings.Contains(err.Error(), "OUTBOX_MAX_BACKOFF") {
		t.Errorf("bad OUTBOX_MAX_BACKOFF: error %v, want one naming it", err)
	}
}

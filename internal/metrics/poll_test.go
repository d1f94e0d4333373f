package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/outbox"
)

// logBuffer collects JSON log lines from the pollers' goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// lines returns the log records whose msg is msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readLag(db *dbtest.DB) metrics.LagFunc {
	return func(ctx context.Context) (int, time.Duration, int, error) {
		l, err := outbox.ReadLag(ctx, db.DB)
		return l.Pending, l.Oldest, l.Parked, err
	}
}

func TestOutboxLag(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t, "orders")
	ctx := context.Background()
	for _, q := range []string{
		// Two events waiting, the older one 90 s old, and one parked (older still, and not counted
		// in the backlog's age).
		"INSERT INTO outbox (uuid, payload, metadata, created_at) VALUES (UUID(), '{}', '{}', CURRENT_TIMESTAMP(6) - INTERVAL 90 SECOND)",
		"INSERT INTO outbox (uuid, payload, metadata) VALUES (UUID(), '{}', '{}')",
		"INSERT INTO outbox (uuid, payload, metadata, created_at, parked_at, last_error) VALUES (UUID(), '{}', '{}', CURRENT_TIMESTAMP(6) - INTERVAL 1 HOUR, CURRENT_TIMESTAMP(6), 'queue unreachable')",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	lag := metrics.NewOutboxLag(readLag(db), metrics.PollOptions{Interval: time.Minute})
	reg.MustRegister(lag)
	if s := metricstest.Gather(t, reg); s.Series("outbox_backlog_events") != 0 {
		t.Fatal("series exported before the first read; want none rather than a made-up 0")
	}
	if err := lag.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	s := metricstest.Gather(t, reg)
	if got := s.Value(t, "outbox_backlog_events"); got != 2 {
		t.Errorf("outbox_backlog_events = %v, want 2", got)
	}
	if got := s.Value(t, "outbox_parked_events"); got != 1 {
		t.Errorf("outbox_parked_events = %v, want 1", got)
	}
	if got := s.Value(t, "outbox_oldest_event_age_seconds"); got < 90 || got > 120 {
		t.Errorf("outbox_oldest_event_age_seconds = %v, want about 90", got)
	}

	// Sent and parked rows gone: the gauges return to 0.
	if _, err := db.ExecContext(ctx, "DELETE FROM outbox"); err != nil {
		t.Fatal(err)
	}
	if err := lag.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	s = metricstest.Gather(t, reg)
	for _, name := range []string{"outbox_backlog_events", "outbox_oldest_event_age_seconds", "outbox_parked_events"} {
		if got := s.Value(t, name); got != 0 {
			t.Errorf("%s = %v, want 0 with an empty outbox", name, got)
		}
	}
}

// While the outbox cannot be read, Run logs one warning (not one per read) and the series disappear
// once stale; when it can be read again, one line says so and the series come back.
func TestOutboxLagOutage(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t, "orders")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs logBuffer
	interval := 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	lag := metrics.NewOutboxLag(readLag(db), metrics.PollOptions{Interval: interval, Log: logs.logger()})
	reg.MustRegister(lag)
	done := make(chan struct{})
	go func() { lag.Run(ctx); close(done) }()

	present := func() bool { return metricstest.Gather(t, reg).Series("outbox_backlog_events") == 1 }
	eventually(t, 5*time.Second, "outbox_backlog_events never exported", present)

	if _, err := db.Exec("RENAME TABLE outbox TO outbox_away"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "stale series still exported during the outage", func() bool { return !present() })
	time.Sleep(5 * interval) // more failed reads
	if n := len(logs.lines("outbox backlog unavailable for metrics")); n != 1 {
		t.Fatalf("got %d warnings during one outage, want 1", n)
	}

	if _, err := db.Exec("RENAME TABLE outbox_away TO outbox"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "series not back after the outage", present)
	if n := len(logs.lines("outbox backlog readable again")); n != 1 {
		t.Fatalf("got %d recovery lines, want 1", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

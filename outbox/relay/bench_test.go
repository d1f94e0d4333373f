package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/b2b/backoffice/outbox"
	"github.com/b2b/backoffice/outbox/relay"
)

// BenchmarkRelay measures, in one run: producer transactions per second with the relay stopped and
// with it running, and the relay's throughput into goaws while draining a backlog. Run it alone:
//
//	go test -run XXX -bench Relay -benchtime 1x ./outbox/
func BenchmarkRelay(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e := newEnv(b)
		pending := func() int {
			l, err := outbox.ReadLag(context.Background(), e.db.DB)
			if err != nil {
				b.Fatal(err)
			}
			return l.Pending
		}

		// Producers alone: the relay is stopped and the backlog grows.
		alone := produce(b, e.db.DB, loadWriters, loadTxs, publishOutbox)
		backlog := pending()

		// The relay drains the backlog with nothing else running.
		start := time.Now()
		r, _ := e.startRelay(relay.Options{PollInterval: 100 * time.Millisecond}, nil)
		waitFor(b, 5*time.Minute, "backlog drained", func() bool { return pending() == 0 })
		drain := time.Since(start)

		// Producers again, the relay running alongside.
		sentBefore := r.Delivered()
		withRelay := produce(b, e.db.DB, loadWriters, loadTxs, publishOutbox)
		sentMeanwhile := r.Delivered() - sentBefore
		waitFor(b, 5*time.Minute, "caught up", func() bool { return pending() == 0 })

		b.ReportMetric(alone.txPerSecond(), "producer-tx/s-relay-stopped")
		b.ReportMetric(withRelay.txPerSecond(), "producer-tx/s-relay-running")
		b.ReportMetric(float64(backlog)/drain.Seconds(), "relay-events/s-draining")
		b.ReportMetric(float64(sentMeanwhile)/withRelay.elapsed.Seconds(), "relay-events/s-alongside-producers")
		b.ReportMetric(float64(alone.percentile(0.99).Microseconds())/1000, "producer-p99-ms-relay-stopped")
		b.ReportMetric(float64(withRelay.percentile(0.99).Microseconds())/1000, "producer-p99-ms-relay-running")
	}
}

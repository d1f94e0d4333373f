package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/config"
)

// PollOptions tune a poller (QueueDepth, OutboxLag).
type PollOptions struct {
	// Interval between two reads (default DefaultPollInterval). Each read is bounded by it, or by
	// minReadTimeout when that is longer; a read that runs past the next tick skips that tick.
	Interval time.Duration
	// Log receives one warning when reads start failing and one line when they work again, not one
	// per failed read (default: discard).
	Log *slog.Logger
}

// DefaultPollInterval is often enough for alerts that wait a minute or more, and rare enough that
// the reads cost nothing (one query, one GetQueueAttributes per queue).
const DefaultPollInterval = 10 * time.Second

// LoadPollInterval reads METRICS_POLL_INTERVAL, the interval of a process's pollers (queue depth,
// outbox backlog): a duration, default DefaultPollInterval, at most 10 minutes.
func LoadPollInterval(l *config.Loader) time.Duration {
	return l.Duration("METRICS_POLL_INTERVAL", DefaultPollInterval, 10*time.Minute)
}

// staleAfter is how many intervals a reading is exported without being refreshed. Past that its
// series disappear, so a dashboard shows a gap and no stale number; a single failed read in between
// keeps the series, so an alert's for: clause is not reset by one hiccup.
const staleAfter = 3

func (o PollOptions) withDefaults() PollOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultPollInterval
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// minReadTimeout keeps a short interval from failing reads that are merely slow (several queues, a
// busy database): an outage is an error or a hang, not a read taking 200 ms.
const minReadTimeout = 5 * time.Second

// poll calls read at once and then every interval until ctx is done.
func poll(ctx context.Context, interval time.Duration, read func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(interval, minReadTimeout))
		read(rctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// outage turns a stream of failed and successful reads into one warning when the failures start and
// one info line when they end.
type outage struct {
	since time.Time
}

func (o *outage) failed(log *slog.Logger, msg string, err error, attrs ...any) {
	if !o.since.IsZero() {
		return
	}
	o.since = time.Now()
	log.Warn(msg, append(attrs, "error", err.Error())...)
}

func (o *outage) recovered(log *slog.Logger, msg string, attrs ...any) {
	if o.since.IsZero() {
		return
	}
	log.Info(msg, append(attrs, "failing_for", time.Since(o.since).Round(time.Millisecond).String())...)
	o.since = time.Time{}
}

// LagFunc reads the outbox backlog: the events waiting to be sent, the age of the oldest of them (0
// when none) and the events parked after too many failed sends.
type LagFunc func(ctx context.Context) (pending int, oldest time.Duration, parked int, err error)

// OutboxLag exports the outbox backlog, read by a LagFunc every interval:
//
//	outbox_backlog_events              events committed and not yet sent (parked ones excluded)
//	outbox_oldest_event_age_seconds    age of the oldest of them, 0 when none
//	outbox_parked_events               events set aside after too many failed sends
//
// It is a prometheus.Collector: register it, then Run it.
type OutboxLag struct {
	read LagFunc
	o    PollOptions

	backlog, age, parked *prometheus.Desc

	mu      sync.Mutex
	last    lagReading
	readAt  time.Time
	pollMu  sync.Mutex
	failure outage
}

type lagReading struct {
	pending, parked int
	oldest          time.Duration
}

// NewOutboxLag returns an OutboxLag reading through read.
func NewOutboxLag(read LagFunc, o PollOptions) *OutboxLag {
	return &OutboxLag{
		read: read,
		o:    o.withDefaults(),
		backlog: prometheus.NewDesc("outbox_backlog_events",
			"Outbox events committed and not yet sent to the queue (parked events excluded).", nil, nil),
		age: prometheus.NewDesc("outbox_oldest_event_age_seconds",
			"Age of the oldest outbox event not yet sent (0 when none).", nil, nil),
		parked: prometheus.NewDesc("outbox_parked_events",
			"Outbox events set aside after too many failed sends; they wait for an operator.", nil, nil),
	}
}

// Run reads the backlog at once and then every interval until ctx is done.
func (l *OutboxLag) Run(ctx context.Context) {
	poll(ctx, l.o.Interval, func(ctx context.Context) { _ = l.Poll(ctx) })
}

// Poll reads the backlog once and returns the read's error, which it has also logged (once per
// outage).
func (l *OutboxLag) Poll(ctx context.Context) error {
	l.pollMu.Lock()
	defer l.pollMu.Unlock()
	pending, oldest, parked, err := l.read(ctx)
	if err != nil {
		l.failure.failed(l.o.Log, "outbox backlog unavailable for metrics", err)
		return err
	}
	l.failure.recovered(l.o.Log, "outbox backlog readable again")
	l.mu.Lock()
	l.last, l.readAt = lagReading{pending: pending, parked: parked, oldest: oldest}, time.Now()
	l.mu.Unlock()
	return nil
}

// Describe implements prometheus.Collector.
func (l *OutboxLag) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.backlog
	ch <- l.age
	ch <- l.parked
}

// Collect implements prometheus.Collector: the last reading, unless it is stale.
func (l *OutboxLag) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	r, at := l.last, l.readAt
	l.mu.Unlock()
	if at.IsZero() || time.Since(at) > staleAfter*l.o.Interval {
		return
	}
	ch <- prometheus.MustNewConstMetric(l.backlog, prometheus.GaugeValue, float64(r.pending))
	ch <- prometheus.MustNewConstMetric(l.age, prometheus.GaugeValue, r.oldest.Seconds())
	ch <- prometheus.MustNewConstMetric(l.parked, prometheus.GaugeValue, float64(r.parked))
}

package main

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// registry returns the process's metrics: runtime, and the depth of the commands queue, read every
// cfg.MetricsPoll until ctx is done. The answers and waits join it through answerMetrics, the HTTP
// metrics through metrics.Instrument.
func registry(ctx context.Context, cfg config, log *slog.Logger) (*prometheus.Registry, error) {
	reg := metrics.NewRegistry()
	client, err := queue.NewClient(ctx, cfg.SQS)
	if err != nil {
		return nil, err
	}
	depth := metrics.NewQueueDepth(queue.NewDepthReader(client).Read, []string{cfg.Queue},
		metrics.PollOptions{Interval: cfg.MetricsPoll, Log: log})
	reg.MustRegister(depth)
	go depth.Run(ctx)
	return reg, nil
}

// answerMetrics count what create-and-confirm answers (the orchestrator.Observer of this process):
//
//	orchestrator_answers_total{status}                 answers by HTTP status: 201, 202, 400, 404,
//	                                                   409, 422, 503... (the statuses web.Error gives:
//	                                                   a small fixed set)
//	orchestrator_confirmation_wait_seconds{result}     from the command's send to the final answer
//	                                                   (result "final") or to the deadline ("pending")
type answerMetrics struct {
	answers *prometheus.CounterVec
	wait    *prometheus.HistogramVec
}

var _ orchestrator.Observer = (*answerMetrics)(nil)

func newAnswerMetrics(reg prometheus.Registerer) *answerMetrics {
	m := &answerMetrics{
		answers: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orchestrator_answers_total",
			Help: "create-and-confirm answers by HTTP status (201 confirmed, 202 pending, 4xx rejected or refused, 5xx failed).",
		}, []string{"status"})),
		wait: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orchestrator_confirmation_wait_seconds",
			Help:    "Time from sending PlaceOrder to the final answer (result=final) or to the deadline (result=pending, answered 202).",
			Buckets: prometheus.DefBuckets,
		}, []string{"result"})),
	}
	metrics.Init(m.answers, strconv.Itoa(http.StatusCreated), strconv.Itoa(http.StatusAccepted))
	return m
}

func (m *answerMetrics) Answered(status int) { m.answers.WithLabelValues(strconv.Itoa(status)).Inc() }

func (m *answerMetrics) Waited(took time.Duration, pending bool) {
	result := "final"
	if pending {
		result = "pending"
	}
	m.wait.WithLabelValues(result).Observe(took.Seconds())
}

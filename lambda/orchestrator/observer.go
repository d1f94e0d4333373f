package orchestrator

import (
	"net/http"
	"time"

	"github.com/b2b/backoffice/internal/web"
)

// Observer is told what create-and-confirm did, to count it. cmd/local counts for its /metrics; the
// Lambda build has no port and counts nothing (on AWS, CloudWatch has the function's invocations,
// errors and duration, and API Gateway's 4XXError, 5XXError and Latency per stage), so this package
// links no metrics library.
type Observer interface {
	// Answered is told the HTTP status of each answer.
	Answered(status int)
	// Waited is told how long a request waited, from sending its PlaceOrder, for the final answer, or
	// until the deadline passed (pending: answered 202).
	Waited(took time.Duration, pending bool)
}

// Option changes the handler Setup builds.
type Option func(*Handler)

// WithObserver makes the handler tell o what it does.
func WithObserver(o Observer) Option { return func(h *Handler) { h.observer = o } }

// answered tells the observer the answer rec recorded. Nothing written means a panic, which the
// recovering middleware answers with 500.
func (h *Handler) answered(rec *web.Recorder) {
	if h.observer == nil {
		return
	}
	status := http.StatusInternalServerError
	if rec.Written() {
		status = rec.Status()
	}
	h.observer.Answered(status)
}

func (h *Handler) waited(status int, took time.Duration) {
	if h.observer != nil {
		h.observer.Waited(took, status == http.StatusAccepted)
	}
}

package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
)

type stateKey struct{}

// requestState collects what the single log line of a request says. The correlation id can change after
// the body is read, so the line is written from here at the end, not from a logger captured at the start.
type requestState struct {
	correlationID string
	attrs         []any
}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// annotate adds key/value pairs to the request's log line.
func annotate(ctx context.Context, kv ...any) {
	if s := stateFrom(ctx); s != nil {
		s.attrs = append(s.attrs, kv...)
	}
}

func setCorrelationID(ctx context.Context, id string) context.Context {
	if s := stateFrom(ctx); s != nil {
		s.correlationID = id
	}
	return logging.WithCorrelationID(ctx, id)
}

// middleware gives every request a correlation id (X-Correlation-Id or a new one), a logger in its context,
// panic recovery, and exactly one log line.
func middleware(base *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get(web.CorrelationHeader)
			if !web.ValidCorrelationID(id) {
				id = newCorrelationID()
			}
			st := &requestState{correlationID: id}
			ctx := context.WithValue(logging.WithLogger(r.Context(), base), stateKey{}, st)
			ctx = logging.WithCorrelationID(ctx, id)
			w.Header().Set(web.CorrelationHeader, id)
			rec := &web.Recorder{ResponseWriter: w}
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					err := apperr.ErrInternal.Wrap(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
					if !rec.Written() {
						respondError(rec, r.WithContext(logging.WithCorrelationID(ctx, st.correlationID)), err)
					}
				}
				attrs := append([]any{
					"method", r.Method,
					"path", r.URL.Path,
					"status", rec.Status(),
					"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
				}, st.attrs...)
				base.With("correlation_id", st.correlationID).Info("request", attrs...)
			}()
			next.ServeHTTP(rec, r.WithContext(ctx))
		})
	}
}

// SuccessBody is the wire shape of a 201 or 202.
type SuccessBody struct {
	Success       bool   `json:"success"`
	CorrelationID string `json:"correlationId"`
	Data          any    `json:"data"`
}

// ErrorBody is the wire shape of every error answer.
type ErrorBody struct {
	Success       bool            `json:"success"`
	CorrelationID string          `json:"correlationId"`
	Error         web.ErrorObject `json:"error"`
}

func respond(w http.ResponseWriter, r *http.Request, status int, data any) {
	web.Respond(w, status, SuccessBody{Success: true, CorrelationID: logging.CorrelationID(r.Context()), Data: data})
}

// respondError renders err with the one status mapping of internal/web; 5xx causes are logged here, once.
func respondError(w http.ResponseWriter, r *http.Request, err error) {
	status := web.Status(err)
	if status >= 500 {
		logging.FromContext(r.Context()).Error("request failed", "error", err.Error(), "status", status)
	}
	annotate(r.Context(), "error_code", web.Body(err).Error.Code)
	web.Respond(w, status, ErrorBody{CorrelationID: logging.CorrelationID(r.Context()), Error: web.Body(err).Error})
}

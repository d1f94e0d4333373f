package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
)

// CorrelationHeader carries the correlation id between clients and services.
const CorrelationHeader = "X-Correlation-Id"

// ValidCorrelationID reports whether id may be carried as given: 1..128 visible ASCII characters.
func ValidCorrelationID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// ErrorRenderer builds the body of an error answer from the error object and the request's
// correlation id. The default is ErrorBody; a service with another response envelope (the
// orchestrator's {"success":false,...}) supplies its own through WithErrorRenderer.
type ErrorRenderer func(correlationID string, e ErrorObject) any

// Option changes the behaviour of Middleware and NewRouter.
type Option func(*options)

type options struct {
	render ErrorRenderer
}

// WithErrorRenderer makes every error answer of the router (Error, 404, 405, a recovered panic) use
// render for its body.
func WithErrorRenderer(render ErrorRenderer) Option {
	return func(o *options) { o.render = render }
}

type stateKey struct{}

// requestState is what the request's single log line says beyond the basics, collected while the
// request runs: the correlation id may change after the body is read, and handlers and middleware
// deeper in the chain add attributes (Annotate).
type requestState struct {
	correlationID string
	attrs         []any
	render        ErrorRenderer
}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// Annotate adds key/value pairs to the log line of the request ctx belongs to. Outside a request
// (no Middleware in front) it does nothing.
func Annotate(ctx context.Context, kv ...any) {
	if s := stateFrom(ctx); s != nil {
		s.attrs = append(s.attrs, kv...)
	}
}

// SetCorrelationID replaces the request's correlation id after the fact (a body may carry one that
// wins over the header's): the response header, the request's log line and the logger in the returned
// request's context all use id from then on.
func SetCorrelationID(w http.ResponseWriter, r *http.Request, id string) *http.Request {
	if s := stateFrom(r.Context()); s != nil {
		s.correlationID = id
	}
	w.Header().Set(CorrelationHeader, id)
	return r.WithContext(logging.WithCorrelationID(r.Context(), id))
}

// Middleware returns the stack every service puts in front of its routes: correlation id (taken from the
// request or generated, echoed back), a logger in the context, panic recovery and one log line per request.
func Middleware(log *slog.Logger, opts ...Option) func(http.Handler) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get(CorrelationHeader)
			if !ValidCorrelationID(id) {
				id = uuid.NewString()
			}
			w.Header().Set(CorrelationHeader, id)
			st := &requestState{correlationID: id, render: o.render}
			ctx := context.WithValue(logging.WithLogger(r.Context(), log), stateKey{}, st)
			r = r.WithContext(logging.WithCorrelationID(ctx, id))
			rec := &Recorder{ResponseWriter: w}
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					err := apperr.ErrInternal.Wrap(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
					if !rec.Written() {
						Error(rec, r.WithContext(logging.WithCorrelationID(r.Context(), st.correlationID)), err)
					} else {
						log.Error("panic after response started", "correlation_id", st.correlationID, "error", err.Error())
					}
				}
				route := r.URL.Path
				if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
					route = rc.RoutePattern()
				}
				attrs := append([]any{
					"method", r.Method,
					"route", route,
					"status", rec.Status(),
					"bytes", rec.Bytes(),
					"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
				}, st.attrs...)
				log.With("correlation_id", st.correlationID).Info("request", attrs...)
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// Recorder wraps a ResponseWriter to remember the status and size of the response, for request logs.
type Recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

// WriteHeader records the first status written.
func (s *Recorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *Recorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Written reports whether the response has started.
func (s *Recorder) Written() bool { return s.status != 0 }

// Status is the status sent, 200 when the handler wrote nothing.
func (s *Recorder) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Bytes is the size of the body written.
func (s *Recorder) Bytes() int { return s.bytes }

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *Recorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// NewRouter returns a chi router with the common middleware and JSON 404/405 answers; a 405 lists the
// methods the path has in Allow.
func NewRouter(log *slog.Logger, opts ...Option) *chi.Mux {
	r := chi.NewRouter()
	r.Use(Middleware(log, opts...))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { Error(w, r, apperr.ErrRouteNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		Error(w, req, apperr.ErrMethodNotAllowed)
	})
	return r
}

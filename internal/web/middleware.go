package web

import (
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

// Middleware returns the stack every service puts in front of its routes: correlation id (taken from the
// request or generated, echoed back), a logger in the context, panic recovery and one log line per request.
func Middleware(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get(CorrelationHeader)
			if !ValidCorrelationID(id) {
				id = uuid.NewString()
			}
			w.Header().Set(CorrelationHeader, id)
			ctx := logging.WithCorrelationID(logging.WithLogger(r.Context(), log), id)
			r = r.WithContext(ctx)
			rec := &Recorder{ResponseWriter: w}
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					err := apperr.ErrInternal.Wrap(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
					if !rec.Written() {
						Error(rec, r, err)
					} else {
						logging.FromContext(ctx).Error("panic after response started", "error", err.Error())
					}
				}
				route := r.URL.Path
				if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
					route = rc.RoutePattern()
				}
				logging.FromContext(ctx).Info("request",
					"method", r.Method,
					"route", route,
					"status", rec.Status(),
					"bytes", rec.Bytes(),
					"duration_ms", float64(time.Since(start).Microseconds())/1000,
				)
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

// NewRouter returns a chi router with the common middleware and JSON 404/405 answers.
func NewRouter(log *slog.Logger) *chi.Mux {
	r := chi.NewRouter()
	r.Use(Middleware(log))
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

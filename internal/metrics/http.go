package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/web"
)

// UnmatchedRoute is the route label of requests that matched no route (answered 404 or 405 by the
// router itself): their raw paths are unbounded and must not become label values.
const UnmatchedRoute = "unmatched"

// Middleware counts and times the requests of a chi router in reg:
//
//	http_requests_total{route,method,code}            code is the status class: "2xx", "4xx", "5xx"...
//	http_request_duration_seconds{route,method}       histogram
//
// route is chi's route pattern ("/orders/{id}"), read after the handler ran so that patterns of
// mounted routers are complete; never the raw path. method is one of the standard methods or OTHER. A
// handler that panics counts as 5xx (the panic goes on to the recovering middleware unchanged).
//
// Install it with the router's Use, after web.Middleware; it also works wrapped around a chi router.
// Several routers of one process may share reg: they share the series.
func Middleware(reg prometheus.Registerer) func(http.Handler) http.Handler {
	requests := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total",
		Help: "HTTP requests answered, by chi route pattern, method and status class.",
	}, []string{"route", "method", "code"}))
	duration := Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by chi route pattern and method.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method"}))

	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rctx := chi.RouteContext(r.Context())
			if rctx == nil {
				// Wrapped around the router rather than inside it: give chi a routing context it
				// fills in, since the one it would make itself is gone (back to its pool) when it
				// returns.
				rctx = chi.NewRouteContext()
				r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
			}
			rec := &web.Recorder{ResponseWriter: w}
			panicked := true
			// No recover here: the recovering middleware outside logs the panic with its original
			// stack, which a recover and re-panic would lose.
			defer func() {
				code := statusClass(rec.Status())
				if panicked {
					code = "5xx"
				}
				route, m := routeLabel(rctx), methodLabel(r.Method)
				requests.WithLabelValues(route, m, code).Inc()
				duration.WithLabelValues(route, m).Observe(time.Since(start).Seconds())
			}()
			next.ServeHTTP(rec, r)
			panicked = false
		})
	}
}

// Instrument returns h, the whole HTTP surface of a service, counted and timed by Middleware(reg), with
// GET /metrics answered from reg in front of it. The scrape is answered before h's own middleware, so
// it needs no authentication whatever h's routes require, writes no request log line, and is not
// counted in http_requests_total (promhttp_metric_handler_requests_total counts scrapes). Any other
// method on /metrics goes to h like every other path.
func Instrument(reg *prometheus.Registry, h http.Handler) http.Handler {
	scrape, routes := Handler(reg), Middleware(reg)(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			scrape.ServeHTTP(w, r)
			return
		}
		routes.ServeHTTP(w, r)
	})
}

func routeLabel(rctx *chi.Context) string {
	if p := rctx.RoutePattern(); p != "" {
		return p
	}
	return UnmatchedRoute
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// methodLabel bounds the method label: a client may send any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

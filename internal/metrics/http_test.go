package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
)

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// routes is a router shaped like the services': middleware installed with Use, a parameterised route
// and a mounted sub-router.
func routes(reg prometheus.Registerer) http.Handler {
	r := chi.NewRouter()
	r.Use(metrics.Middleware(reg))
	r.Get("/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		if chi.URLParam(r, "id") == "0" {
			http.Error(w, "no such order", http.StatusNotFound)
			return
		}
		w.Write([]byte("{}"))
	})
	r.Post("/orders/{id}/confirm", ok)
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	r.Get("/unavailable", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	r.Route("/customers", func(r chi.Router) {
		r.Get("/{id}", ok)
	})
	return r
}

func do(t *testing.T, h http.Handler, method, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	func() {
		// The services' recovering middleware sits outside; here the panic just has to pass through.
		defer func() { _ = recover() }()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	}()
	return rec.Code
}

// Label cardinality: requests for a thousand different orders are one series, labelled with the route
// pattern, never the path.
func TestMiddlewareLabelsByRoutePatternNotPath(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := routes(reg)
	for i := 1; i <= 1000; i++ {
		if code := do(t, h, http.MethodGet, "/orders/"+strconv.Itoa(i)); code != http.StatusOK {
			t.Fatalf("GET /orders/%d: %d", i, code)
		}
	}
	s := metricstest.Gather(t, reg)
	if n := s.Series("http_requests_total"); n != 1 {
		t.Fatalf("got %d series of http_requests_total, want 1: %v...", n, s.Labels("http_requests_total")[:min(n, 3)])
	}
	if got := s.Value(t, "http_requests_total", "route", "/orders/{id}", "method", "GET", "code", "2xx"); got != 1000 {
		t.Errorf("http_requests_total{route=/orders/{id}} = %v, want 1000", got)
	}
	if n := s.Series("http_request_duration_seconds"); n != 1 {
		t.Fatalf("got %d series of http_request_duration_seconds, want 1: %v...", n, s.Labels("http_request_duration_seconds")[:min(n, 3)])
	}
	if got := s.Value(t, "http_request_duration_seconds_count", "route", "/orders/{id}", "method", "GET"); got != 1000 {
		t.Errorf("http_request_duration_seconds_count = %v, want 1000", got)
	}
	if got := s.Value(t, "http_request_duration_seconds_sum", "route", "/orders/{id}"); got <= 0 {
		t.Errorf("http_request_duration_seconds_sum = %v, want > 0", got)
	}
}

func TestMiddlewareLabels(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := routes(reg)
	for _, tc := range []struct {
		method, path       string
		route, verb, class string
	}{
		{"GET", "/orders/0", "/orders/{id}", "GET", "4xx"},
		{"POST", "/orders/7/confirm", "/orders/{id}/confirm", "POST", "2xx"},
		{"GET", "/customers/9", "/customers/{id}", "GET", "2xx"},
		{"GET", "/unavailable", "/unavailable", "GET", "5xx"},
		{"GET", "/boom", "/boom", "GET", "5xx"},
		{"GET", "/no/such/path/123", metrics.UnmatchedRoute, "GET", "4xx"},
		{"GET", "/no/such/path/456", metrics.UnmatchedRoute, "GET", "4xx"},
		{"DELETE", "/orders/5/confirm", metrics.UnmatchedRoute, "DELETE", "4xx"},
		{"BREW", "/orders/5", metrics.UnmatchedRoute, "OTHER", "4xx"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := metricstest.Gather(t, reg)
			do(t, h, tc.method, tc.path)
			after := metricstest.Gather(t, reg)
			labels := []string{"route", tc.route, "method", tc.verb, "code", tc.class}
			if d := after.Sum("http_requests_total", labels...) - before.Sum("http_requests_total", labels...); d != 1 {
				t.Errorf("http_requests_total%v went up by %v, want 1; series now %v", labels, d, after.Labels("http_requests_total"))
			}
		})
	}
	// Two unmatched paths share one series.
	s := metricstest.Gather(t, reg)
	if got := s.Value(t, "http_requests_total", "route", metrics.UnmatchedRoute, "method", "GET"); got != 2 {
		t.Errorf("unmatched GETs = %v, want 2 in one series", got)
	}
}

// Wrapped around the router instead of installed with Use, it still sees the route pattern.
func TestMiddlewareAroundRouter(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	r := chi.NewRouter()
	r.Get("/orders/{id}", ok)
	h := metrics.Middleware(reg)(r)
	for i := range 3 {
		do(t, h, http.MethodGet, fmt.Sprintf("/orders/%d", i))
	}
	s := metricstest.Gather(t, reg)
	if got := s.Value(t, "http_requests_total", "route", "/orders/{id}", "code", "2xx"); got != 3 {
		t.Errorf("got %v, want 3 under the route pattern; series %v", got, s.Labels("http_requests_total"))
	}
}

// Two routers of one process on one registry share the series instead of panicking on registration.
func TestMiddlewareSharedRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a, b := routes(reg), routes(reg)
	do(t, a, http.MethodGet, "/orders/1")
	do(t, b, http.MethodGet, "/orders/2")
	s := metricstest.Gather(t, reg)
	if got := s.Value(t, "http_requests_total", "route", "/orders/{id}"); got != 2 {
		t.Errorf("got %v, want 2", got)
	}
}

// A panicking handler counts as 5xx, and the panic goes on unchanged to the recovering middleware.
func TestMiddlewarePassesPanicsOn(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := routes(reg)
	var got any
	func() {
		defer func() { got = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/boom", nil))
	}()
	if got != "boom" {
		t.Fatalf("recovered %v, want the handler's panic \"boom\"", got)
	}
	if n := metricstest.Gather(t, reg).Value(t, "http_requests_total", "route", "/boom", "code", "5xx"); n != 1 {
		t.Fatalf("got %v, want 1", n)
	}
}

// Instrument answers GET /metrics itself, before the routes' own middleware (which may require a
// token), and counts every other request by route.
func TestInstrument(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	// Authentication per route, as the services install it.
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	guarded := chi.NewRouter()
	guarded.With(auth).Get("/orders/{id}", ok)
	guarded.With(auth).Post("/*", ok)
	srv := httptest.NewServer(metrics.Instrument(reg, guarded))
	t.Cleanup(srv.Close)

	for i := range 3 {
		resp, err := http.Get(srv.URL + "/orders/" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /metrics: %v %v, want the routes' answer (401)", resp.StatusCode, err)
	}
	s := metricstest.Scrape(t, srv.URL+"/metrics")
	if got := s.Value(t, "http_requests_total", "route", "/orders/{id}", "method", "GET", "code", "4xx"); got != 3 {
		t.Errorf("http_requests_total{route=/orders/{id}} = %v, want 3", got)
	}
	if n := s.Series("http_requests_total", "route", "/metrics"); n != 0 {
		t.Errorf("scrapes counted in http_requests_total: %v", s.Labels("http_requests_total"))
	}
	if got := s.Value(t, "promhttp_metric_handler_requests_total", "code", "200"); got != 0 {
		// The scrape being served counts once it is done.
		t.Errorf("promhttp_metric_handler_requests_total{code=200} = %v before the first scrape ended, want 0", got)
	}
	if s.Series("go_goroutines") != 1 {
		t.Error("the registry's runtime metrics are missing")
	}
}

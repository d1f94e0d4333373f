package reportapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/reporting"
	"github.com/b2b/backoffice/services/reporting/internal/report"
	"github.com/b2b/backoffice/services/reporting/internal/reportapi"
	"github.com/b2b/backoffice/services/reporting/internal/reportdb"
)

// api is reporting's HTTP surface on a fresh database, with every exchange checked against openapi.yaml.
type api struct {
	t     *testing.T
	h     http.Handler
	c     *apitest.Contract
	store *reportdb.Store
	logs  *proctest.Buffer
	// bearer is the access token get sends to the reports unless told otherwise.
	bearer string
}

func newAPI(t *testing.T, c *apitest.Contract) *api {
	t.Helper()
	db := dbtest.New(t, "reporting")
	store := reportdb.New(db.DB)
	logs := &proctest.Buffer{}
	h := reportapi.Routes(logging.New(logs, reportapi.Service, "info"), report.NewService(store), authtest.Verifier(), store.Ping, reporting.OpenAPI)
	return &api{t: t, h: h, c: c, store: store, logs: logs, bearer: authtest.Operator(t)}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (a *api) get(path string) resp {
	a.t.Helper()
	return a.getWith(authtest.Bearer(a.bearer), path)
}

// getWith sends the Authorization header authz ("" for none).
func (a *api) getWith(authz, path string) resp {
	a.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	status, header, body := a.c.Do(a.t, a.h, req)
	return resp{status, header, body}
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

var (
	mar2 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mar3 = time.Date(2026, 3, 3, 23, 59, 59, 999999000, time.UTC)
	mar4 = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
)

// seed applies the events of four orders:
//
//	1: customer 5, 2×product 1 (1000) + 1×product 2 (500), confirmed 2026-03-02
//	2: customer 5, 3×product 2, confirmed 2026-03-02, canceled 2026-03-03 (last microsecond of the day)
//	3: customer 6, 1×product 1, canceled unconfirmed 2026-03-03
//	4: customer 6, 4×product 3 (250), created 2026-03-04, never confirmed
//
// and returns the time of the newest event.
func (a *api) seed() time.Time {
	a.t.Helper()
	var newest time.Time
	emit := func(typ string, o events.Order, v int, at time.Time) {
		e, err := events.NewOrderEvent(typ, o, v, "corr-seed", at)
		if err != nil {
			a.t.Fatal(err)
		}
		b, _ := json.Marshal(e)
		ev, err := report.Decode(b)
		if err != nil {
			a.t.Fatal(err)
		}
		if _, err := a.store.Apply(context.Background(), ev); err != nil {
			a.t.Fatal(err)
		}
		if at.After(newest) {
			newest = at
		}
	}
	order := func(id, customer int64, at time.Time, items ...events.Item) events.Order {
		o := events.Order{ID: id, CustomerID: customer, Status: "CREATED", CreatedAt: at, Items: items}
		for _, it := range items {
			o.TotalCents += it.SubtotalCents
		}
		return o
	}
	confirm := func(o events.Order, at time.Time) events.Order {
		o.Status, o.ConfirmedAt = "CONFIRMED", &at
		return o
	}
	cancel := func(o events.Order, at time.Time) events.Order {
		o.Status, o.CanceledAt = "CANCELED", &at
		return o
	}
	o1 := order(1, 5, mar2, events.Item{ProductID: 1, Qty: 2, UnitPriceCents: 1000, SubtotalCents: 2000}, events.Item{ProductID: 2, Qty: 1, UnitPriceCents: 500, SubtotalCents: 500})
	emit(events.OrderCreated, o1, 1, mar2)
	emit(events.OrderConfirmed, confirm(o1, mar2.Add(time.Minute)), 2, mar2.Add(time.Minute))
	o2 := order(2, 5, mar2.Add(time.Hour), events.Item{ProductID: 2, Qty: 3, UnitPriceCents: 500, SubtotalCents: 1500})
	emit(events.OrderCreated, o2, 1, mar2.Add(time.Hour))
	o2 = confirm(o2, mar2.Add(time.Hour+time.Minute))
	emit(events.OrderConfirmed, o2, 2, mar2.Add(time.Hour+time.Minute))
	emit(events.OrderCanceled, cancel(o2, mar3), 3, mar3)
	o3 := order(3, 6, mar3.Add(-time.Hour), events.Item{ProductID: 1, Qty: 1, UnitPriceCents: 1000, SubtotalCents: 1000})
	emit(events.OrderCreated, o3, 1, mar3.Add(-time.Hour))
	emit(events.OrderCanceled, cancel(o3, mar3.Add(-time.Minute)), 2, mar3.Add(-time.Minute))
	o4 := order(4, 6, mar4, events.Item{ProductID: 3, Qty: 4, UnitPriceCents: 250, SubtotalCents: 1000})
	emit(events.OrderCreated, o4, 1, mar4)
	return newest
}

func TestReports(t *testing.T) {
	c := apitest.Load(t, reporting.OpenAPI)
	a := newAPI(t, c)

	// Before the first event: empty reports, as_of null and no freshness header.
	r := a.get("/reports/daily-sales?from=2026-03-01&to=2026-03-31")
	if r.status != 200 || string(r.body) != `{"from":"2026-03-01","to":"2026-03-31","as_of":null,"data":[]}` || r.header.Get(reportapi.HeaderAsOf) != "" {
		t.Fatalf("empty daily sales: got %d %s %v", r.status, r.body, r.header)
	}
	if r := a.get("/reports/customers/5"); r.status != 404 || !strings.Contains(string(r.body), `"code":"CUSTOMER_NOT_FOUND"`) {
		t.Fatalf("customer without orders: got %d %s, want 404 CUSTOMER_NOT_FOUND", r.status, r.body)
	}

	newest := a.seed()
	asOf := newest.Format(time.RFC3339Nano)

	r = a.get("/reports/daily-sales?from=2026-03-01&to=2026-03-31")
	want := `{"from":"2026-03-01","to":"2026-03-31","as_of":"` + asOf + `","data":[` +
		`{"date":"2026-03-02","orders_confirmed":2,"orders_canceled":0,"units":3,"revenue_cents":2500},` +
		`{"date":"2026-03-03","orders_confirmed":0,"orders_canceled":2,"units":0,"revenue_cents":0}]}`
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("daily sales:\ngot  %d %s\nwant %s", r.status, r.body, want)
	}
	if got := r.header.Get(reportapi.HeaderAsOf); got != asOf {
		t.Errorf("%s: got %q, want %q", reportapi.HeaderAsOf, got, asOf)
	}
	// Range ends are whole days: the cancellation at 23:59:59.999999 belongs to 2026-03-03 only.
	if r := a.get("/reports/daily-sales?from=2026-03-03&to=2026-03-03"); !strings.Contains(string(r.body), `"data":[{"date":"2026-03-03","orders_confirmed":0,"orders_canceled":2,`) {
		t.Errorf("one day: got %s", r.body)
	}
	if r := a.get("/reports/daily-sales?from=2026-03-04&to=2026-03-05"); !strings.Contains(string(r.body), `"data":[]`) {
		t.Errorf("days with a creation only: got %s, want no rows", r.body)
	}

	r = a.get("/reports/top-products?from=2026-03-01&to=2026-03-31&limit=5")
	want = `{"from":"2026-03-01","to":"2026-03-31","limit":5,"as_of":"` + asOf + `","data":[` +
		`{"product_id":1,"units":2,"revenue_cents":2000,"orders":1},{"product_id":2,"units":1,"revenue_cents":500,"orders":1}]}`
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("top products:\ngot  %d %s\nwant %s", r.status, r.body, want)
	}
	if r := a.get("/reports/top-products?from=2026-03-01&to=2026-03-31&limit=1"); !strings.Contains(string(r.body), `"limit":1,`) || strings.Contains(string(r.body), `"product_id":2`) {
		t.Errorf("limit=1: got %s", r.body)
	}
	if r := a.get("/reports/top-products?from=2026-03-01&to=2026-03-31"); !strings.Contains(string(r.body), `"limit":10,`) {
		t.Errorf("default limit: got %s", r.body)
	}

	r = a.get("/reports/customers/5")
	want = `{"customer_id":5,"orders":2,"orders_confirmed":2,"orders_canceled":1,"units":3,"revenue_cents":2500,` +
		`"first_order_at":"2026-03-02T09:00:00Z","last_order_at":"2026-03-02T10:00:00Z","as_of":"` + asOf + `"}`
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("customer 5:\ngot  %d %s\nwant %s", r.status, r.body, want)
	}
	r = a.get("/reports/customers/6")
	want = `{"customer_id":6,"orders":2,"orders_confirmed":0,"orders_canceled":1,"units":0,"revenue_cents":0,` +
		`"first_order_at":"2026-03-03T22:59:59.999999Z","last_order_at":"2026-03-04T00:00:00Z","as_of":"` + asOf + `"}`
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("customer 6:\ngot  %d %s\nwant %s", r.status, r.body, want)
	}
	if r := a.get("/reports/customers/999"); r.status != 404 || r.header.Get(reportapi.HeaderAsOf) != "" {
		t.Errorf("unknown customer: got %d %v", r.status, r.header)
	}

	t.Run("csv", func(t *testing.T) {
		r := a.get("/reports/daily-sales.csv?from=2026-03-01&to=2026-03-31")
		want := "date,orders_confirmed,orders_canceled,units,revenue_cents\n2026-03-02,2,0,3,2500\n2026-03-03,0,2,0,0\n"
		if r.status != 200 || string(r.body) != want {
			t.Fatalf("got %d %q, want %q", r.status, r.body, want)
		}
		if ct := r.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type: got %q", ct)
		}
		if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="daily-sales-2026-03-01-to-2026-03-31.csv"` {
			t.Errorf("Content-Disposition: got %q", cd)
		}
		if got := r.header.Get(reportapi.HeaderAsOf); got != asOf {
			t.Errorf("%s: got %q, want %q", reportapi.HeaderAsOf, got, asOf)
		}
		// No activity: the header row alone.
		if r := a.get("/reports/daily-sales.csv?from=2025-01-01&to=2025-01-31"); r.status != 200 || string(r.body) != "date,orders_confirmed,orders_canceled,units,revenue_cents\n" {
			t.Errorf("empty csv: got %d %q", r.status, r.body)
		}
		// Errors stay JSON.
		if r := a.get("/reports/daily-sales.csv?from=2026-03-31&to=2026-03-01"); r.status != 400 || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("bad csv request: got %d %s %q", r.status, r.body, r.header.Get("Content-Type"))
		}
	})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			details    string
		}{
			{"no dates", "/reports/daily-sales", `[{"field":"from","message":"is required (YYYY-MM-DD)"},{"field":"to","message":"is required (YYYY-MM-DD)"}]`},
			{"bad from", "/reports/daily-sales?from=03/01/2026&to=2026-03-31", `[{"field":"from","message":"must be a date as YYYY-MM-DD"}]`},
			{"impossible date", "/reports/daily-sales.csv?from=2026-02-29&to=2026-03-31", `[{"field":"from","message":"must be a date as YYYY-MM-DD"}]`},
			{"timestamp", "/reports/top-products?from=2026-03-01&to=2026-03-31T00:00:00Z", `[{"field":"to","message":"must be a date as YYYY-MM-DD"}]`},
			{"from after to", "/reports/daily-sales?from=2026-03-02&to=2026-03-01", `[{"field":"to","message":"must not be before from"}]`},
			{"range too long", "/reports/daily-sales?from=2025-03-01&to=2026-03-02", `[{"field":"to","message":"must be at most 366 days after from, both included (got 367 days)"}]`},
			{"range too long csv", "/reports/daily-sales.csv?from=2024-01-01&to=2025-01-01", `[{"field":"to","message":"must be at most 366 days after from, both included (got 367 days)"}]`},
			{"limit 0", "/reports/top-products?from=2026-03-01&to=2026-03-31&limit=0", `[{"field":"limit","message":"must be an integer from 1 to 100"}]`},
			{"limit 101", "/reports/top-products?from=2026-03-01&to=2026-03-31&limit=101", `[{"field":"limit","message":"must be an integer from 1 to 100"}]`},
			{"limit text", "/reports/top-products?from=2026-03-01&to=2026-03-31&limit=all", `[{"field":"limit","message":"must be an integer from 1 to 100"}]`},
			{"every problem at once", "/reports/top-products?to=2026-13-01&limit=-5", `[{"field":"from","message":"is required (YYYY-MM-DD)"},{"field":"to","message":"must be a date as YYYY-MM-DD"},{"field":"limit","message":"must be an integer from 1 to 100"}]`},
			{"customer id", "/reports/customers/abc", `[{"field":"id","message":"must be a positive integer"}]`},
			{"customer id 0", "/reports/customers/0", `[{"field":"id","message":"must be a positive integer"}]`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := a.get(tc.path)
				var body struct {
					Error struct {
						Code    string          `json:"code"`
						Details json.RawMessage `json:"details"`
					} `json:"error"`
				}
				r.decode(t, &body)
				if r.status != 400 || body.Error.Code != "VALIDATION_FAILED" || string(body.Error.Details) != tc.details {
					t.Fatalf("got %d %s, want 400 VALIDATION_FAILED with details %s", r.status, r.body, tc.details)
				}
			})
		}
		// 366 days, both ends included, is the longest range.
		if r := a.get("/reports/daily-sales?from=2024-01-01&to=2024-12-31"); r.status != 200 {
			t.Errorf("366 days: got %d %s", r.status, r.body)
		}
	})

	t.Run("health and openapi", func(t *testing.T) {
		if r := a.get("/health"); r.status != 200 || string(r.body) != `{"checks":{"db":"ok"},"service":"reporting","status":"ok"}` {
			t.Errorf("health: got %d %s", r.status, r.body)
		}
		if r := a.get("/openapi.yaml"); r.status != 200 || !strings.HasPrefix(string(r.body), "openapi: 3.0.3") || r.header.Get("Content-Type") != "application/yaml" {
			t.Errorf("openapi: got %d %.40s %v", r.status, r.body, r.header)
		}
		// A database that cannot be reached: /health says so, and a report is 503 DATABASE_UNAVAILABLE
		// with Retry-After, which tells a client to try again.
		behind := dbtest.New(t, "reporting")
		proxy := behind.NewProxy(t)
		store := reportdb.New(proxy.DB(behind))
		h := reportapi.Routes(logging.New(a.logs, reportapi.Service, "info"), report.NewService(store), authtest.Verifier(), store.Ping, reporting.OpenAPI)
		proxy.Down()
		status, header, body := c.Do(t, h, httptest.NewRequest(http.MethodGet, "/health", nil))
		if status != 503 || string(body) != `{"checks":{"db":"down"},"service":"reporting","status":"degraded"}` {
			t.Errorf("health with the database down: got %d %s %v", status, body, header)
		}
		for _, path := range []string{
			"/reports/daily-sales?from=2026-03-01&to=2026-03-02",
			"/reports/top-products?from=2026-03-01&to=2026-03-02",
			"/reports/customers/5",
		} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", authtest.Bearer(a.bearer))
			status, header, body := c.Do(t, h, req)
			if status != 503 || header.Get("Retry-After") != "2" ||
				string(body) != `{"error":{"code":"DATABASE_UNAVAILABLE","message":"the database is unavailable, retry later"}}` {
				t.Errorf("%s with the database down: got %d %s %v", path, status, body, header)
			}
		}
		proxy.Up()
		req := httptest.NewRequest(http.MethodGet, "/reports/daily-sales?from=2026-03-01&to=2026-03-02", nil)
		req.Header.Set("Authorization", authtest.Bearer(a.bearer))
		if status, _, body := c.Do(t, h, req); status != 200 {
			t.Errorf("report once the database is back: got %d %s", status, body)
		}
	})

	if got := c.Uncovered(); len(got) != 0 {
		t.Errorf("operations of openapi.yaml no test called: %q", got)
	}
	if t.Failed() {
		t.Logf("logs:\n%s", a.logs.String())
	}
}

// TestErrorLogCarriesCorrelationID: a failed report is logged once, with the request's correlation id.
func TestErrorLogCarriesCorrelationID(t *testing.T) {
	db := dbtest.New(t, "reporting")
	store := reportdb.New(db.DB)
	logs := &proctest.Buffer{}
	h := reportapi.Routes(logging.New(logs, reportapi.Service, "info"), report.NewService(store), authtest.Verifier(), store.Ping, reporting.OpenAPI)
	db.Close()
	req := httptest.NewRequest(http.MethodGet, "/reports/top-products?from=2026-03-01&to=2026-03-02", nil)
	req.Header.Set(web.CorrelationHeader, "corr-report-1")
	req.Header.Set("Authorization", authtest.Bearer(authtest.Operator(t)))
	h.ServeHTTP(httptest.NewRecorder(), req)
	var failures []map[string]any
	for _, line := range logs.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request failed" {
			failures = append(failures, m)
		}
	}
	if len(failures) != 1 || failures[0]["correlation_id"] != "corr-report-1" || !strings.Contains(fmt.Sprint(failures[0]["error"]), "top products") {
		t.Fatalf("got %v, want one failure line with the correlation id and the operation", failures)
	}
}

package reportapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/reporting/internal/report"
)

// DailySales is the body of GET /reports/daily-sales.
type DailySales struct {
	From string     `json:"from"`
	To   string     `json:"to"`
	AsOf *time.Time `json:"as_of"`
	Data []Day      `json:"data"`
}

// Day is one day of activity.
type Day struct {
	Date            string `json:"date"`
	OrdersConfirmed int    `json:"orders_confirmed"`
	OrdersCanceled  int    `json:"orders_canceled"`
	Units           int64  `json:"units"`
	RevenueCents    int64  `json:"revenue_cents"`
}

// TopProducts is the body of GET /reports/top-products.
type TopProducts struct {
	From  string     `json:"from"`
	To    string     `json:"to"`
	Limit int        `json:"limit"`
	AsOf  *time.Time `json:"as_of"`
	Data  []Product  `json:"data"`
}

// Product is one product's sales.
type Product struct {
	ProductID    int64 `json:"product_id"`
	Units        int64 `json:"units"`
	RevenueCents int64 `json:"revenue_cents"`
	Orders       int   `json:"orders"`
}

// Customer is the body of GET /reports/customers/{id}.
type Customer struct {
	CustomerID      int64      `json:"customer_id"`
	Orders          int        `json:"orders"`
	OrdersConfirmed int        `json:"orders_confirmed"`
	OrdersCanceled  int        `json:"orders_canceled"`
	Units           int64      `json:"units"`
	RevenueCents    int64      `json:"revenue_cents"`
	FirstOrderAt    time.Time  `json:"first_order_at"`
	LastOrderAt     time.Time  `json:"last_order_at"`
	AsOf            *time.Time `json:"as_of"`
}

// CSVHeader is the first row of GET /reports/daily-sales.csv.
var CSVHeader = []string{"date", "orders_confirmed", "orders_canceled", "units", "revenue_cents"}

type handler struct {
	svc *report.Service
}

func (h handler) dailySales(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	res, err := h.svc.DailySales(r.Context(), who, q.Get("from"), q.Get("to"))
	if err != nil {
		web.Error(w, r, err)
		return
	}
	out := DailySales{From: date(res.Range.From), To: date(res.Range.To), AsOf: res.AsOf, Data: make([]Day, len(res.Days))}
	for i, d := range res.Days {
		out.Data[i] = Day{Date: date(d.Date), OrdersConfirmed: d.OrdersConfirmed, OrdersCanceled: d.OrdersCanceled, Units: d.Units, RevenueCents: d.RevenueCents}
	}
	setAsOf(w, res.AsOf)
	web.Respond(w, http.StatusOK, out)
}

func (h handler) dailySalesCSV(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	res, err := h.svc.DailySales(r.Context(), who, q.Get("from"), q.Get("to"))
	if err != nil {
		web.Error(w, r, err)
		return
	}
	setAsOf(w, res.AsOf)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="daily-sales-`+date(res.Range.From)+"-to-"+date(res.Range.To)+`.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	for _, d := range res.Days {
		_ = cw.Write([]string{date(d.Date), strconv.Itoa(d.OrdersConfirmed), strconv.Itoa(d.OrdersCanceled),
			strconv.FormatInt(d.Units, 10), strconv.FormatInt(d.RevenueCents, 10)})
	}
	cw.Flush()
}

func (h handler) topProducts(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	res, err := h.svc.TopProducts(r.Context(), who, q.Get("from"), q.Get("to"), q.Get("limit"))
	if err != nil {
		web.Error(w, r, err)
		return
	}
	out := TopProducts{From: date(res.Range.From), To: date(res.Range.To), Limit: res.Limit, AsOf: res.AsOf, Data: make([]Product, len(res.Products))}
	for i, p := range res.Products {
		out.Data[i] = Product{ProductID: p.ProductID, Units: p.Units, RevenueCents: p.RevenueCents, Orders: p.Orders}
	}
	setAsOf(w, res.AsOf)
	web.Respond(w, http.StatusOK, out)
}

func (h handler) customer(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	id, err := web.IDParam(r, "id")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	c, asOf, err := h.svc.Customer(r.Context(), who, id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	setAsOf(w, asOf)
	web.Respond(w, http.StatusOK, Customer{
		CustomerID: c.CustomerID, Orders: c.Orders, OrdersConfirmed: c.OrdersConfirmed, OrdersCanceled: c.OrdersCanceled,
		Units: c.Units, RevenueCents: c.RevenueCents, FirstOrderAt: c.FirstOrderAt, LastOrderAt: c.LastOrderAt, AsOf: asOf,
	})
}

func setAsOf(w http.ResponseWriter, asOf *time.Time) {
	if asOf != nil {
		w.Header().Set(HeaderAsOf, asOf.UTC().Format(time.RFC3339Nano))
	}
}

func date(t time.Time) string { return t.UTC().Format(report.DateLayout) }

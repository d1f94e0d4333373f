package orderapi

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

type handler struct {
	svc *order.Service
}

func (h handler) createProduct(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	var in CreateProductRequest
	if err := web.Decode(w, r, &in); err != nil {
		web.Error(w, r, err)
		return
	}
	var missing []apperr.FieldError
	for name, set := range map[string]bool{"sku": in.SKU != nil, "name": in.Name != nil, "price_cents": in.PriceCents != nil, "stock": in.Stock != nil} {
		if !set {
			missing = append(missing, apperr.FieldError{Field: name, Message: "is required"})
		}
	}
	if len(missing) > 0 {
		web.Error(w, r, apperr.Validation(sortFields(missing)...))
		return
	}
	p, err := h.svc.CreateProduct(r.Context(), who, order.Product{SKU: *in.SKU, Name: *in.Name, PriceCents: *in.PriceCents, Stock: *in.Stock})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/products/"+strconv.FormatInt(p.ID, 10))
	web.Respond(w, http.StatusCreated, productWire(p))
}

func sortFields(f []apperr.FieldError) []apperr.FieldError {
	order := map[string]int{"sku": 0, "name": 1, "price_cents": 2, "stock": 3}
	out := make([]apperr.FieldError, len(f))
	copy(out, f)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if order[out[j].Field] < order[out[i].Field] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func (h handler) getProduct(w http.ResponseWriter, r *http.Request) {
	id, err := web.IDParam(r, "id")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	p, err := h.svc.Product(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, productWire(p))
}

func (h handler) listProducts(w http.ResponseWriter, r *http.Request) {
	page, err := web.ParsePage(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	rows, err := h.svc.Products(r.Context(), order.ProductQuery{Search: r.URL.Query().Get("search"), AfterID: page.AfterID, Limit: page.Limit + 1})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	out := make([]Product, len(rows))
	for i, p := range rows {
		out[i] = productWire(p)
	}
	web.Respond(w, http.StatusOK, web.NewList(out, page.Limit, func(p Product) int64 { return p.ID }))
}

func (h handler) patchProduct(w http.ResponseWriter, r *http.Request) {
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
	var in PatchProductRequest
	if err := web.Decode(w, r, &in); err != nil {
		web.Error(w, r, err)
		return
	}
	p, err := h.svc.PatchProduct(r.Context(), who, id, order.ProductPatch{PriceCents: in.PriceCents, Stock: in.Stock})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, productWire(p))
}

func (h handler) createOrder(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	var in CreateOrderRequest
	if err := web.Decode(w, r, &in); err != nil {
		web.Error(w, r, err)
		return
	}
	key, err := optionalKey(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	out, err := h.svc.CreateOrder(r.Context(), who, in.CustomerID, in.Items, key, encodeOrder)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(out.ID, 10))
	respondOutcome(w, http.StatusCreated, out)
}

// optionalKey returns the Idempotency-Key of POST /orders, "" when the header is absent. Sent empty or
// more than once it is refused rather than taken for no key: a client that meant to send a key must
// not get a new order on every retry.
func optionalKey(r *http.Request) (string, error) {
	switch v := r.Header.Values(HeaderIdempotencyKey); len(v) {
	case 0:
		return "", nil
	case 1:
		if v[0] == "" {
			return "", order.ErrIdempotencyKeyInvalid
		}
		return v[0], nil
	default:
		return "", order.ErrIdempotencyKeyInvalid
	}
}

// respondOutcome writes the stored body itself, so the first answer and every replay are the same bytes.
func respondOutcome(w http.ResponseWriter, status int, out order.Outcome) {
	if out.Replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	web.RespondRaw(w, status, out.Body)
}

func (h handler) getOrder(w http.ResponseWriter, r *http.Request) {
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
	o, err := h.svc.Order(r.Context(), who, id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, orderWire(o))
}

func (h handler) listOrders(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	q, limit, err := parseOrderQuery(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	rows, err := h.svc.Orders(r.Context(), who, q)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	out := make([]Order, len(rows))
	for i, o := range rows {
		out[i] = orderWire(o)
	}
	web.Respond(w, http.StatusOK, web.NewList(out, limit, func(o Order) int64 { return o.ID }))
}

// parseOrderQuery reads the filters of GET /orders. from is inclusive; to is inclusive too: a date
// means the whole day, a timestamp that instant.
func parseOrderQuery(r *http.Request) (order.Query, int, error) {
	page, err := web.ParsePage(r)
	if err != nil {
		return order.Query{}, 0, err
	}
	v := r.URL.Query()
	q := order.Query{Status: v.Get("status"), AfterID: page.AfterID, Limit: page.Limit + 1}
	var fe []apperr.FieldError
	if q.Status != "" && !order.ValidStatus(q.Status) {
		fe = append(fe, apperr.FieldError{Field: "status", Message: "must be one of CREATED, CONFIRMED, CANCELED"})
	}
	if s := v.Get("customer_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			fe = append(fe, apperr.FieldError{Field: "customer_id", Message: "must be a positive integer"})
		}
		q.CustomerID = id
	}
	if s := v.Get("from"); s != "" {
		t, _, ok := parseTime(s)
		// created_at has microseconds: the first instant at or after a finer from is the next microsecond.
		if tr := t.Truncate(time.Microsecond); tr.Before(t) {
			t = tr.Add(time.Microsecond)
		}
		if !ok || !t.Before(maxBefore) {
			fe = append(fe, apperr.FieldError{Field: "from", Message: timeMessage})
		}
		q.From = &t
	}
	if s := v.Get("to"); s != "" {
		t, isDate, ok := parseTime(s)
		if !ok {
			fe = append(fe, apperr.FieldError{Field: "to", Message: timeMessage})
		}
		if isDate {
			t = t.AddDate(0, 0, 1)
		} else {
			t = t.Truncate(time.Microsecond).Add(time.Microsecond)
		}
		// A bound after the last instant a DATETIME can hold excludes nothing, and the driver can not
		// send it.
		if ok && t.Before(maxBefore) {
			q.Before = &t
		}
	}
	if len(fe) == 0 && q.From != nil && q.Before != nil && !q.From.Before(*q.Before) {
		fe = append(fe, apperr.FieldError{Field: "from", Message: "must not be after to"})
	}
	if len(fe) > 0 {
		return order.Query{}, 0, apperr.Validation(fe...)
	}
	return q, page.Limit, nil
}

const timeMessage = "must be an RFC 3339 timestamp or a date YYYY-MM-DD, from year 0001 to 9999 in UTC"

// maxBefore is the exclusive end of what a DATETIME(6) column holds: an upper bound at or after it
// filters nothing.
var maxBefore = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseTime reads a date (midnight UTC) or an RFC 3339 timestamp (converted to UTC). Years outside
// 0001..9999 in UTC are refused: the database can not compare with them.
func parseTime(s string) (t time.Time, isDate, ok bool) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		t, isDate = d, true
	} else if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t = ts.UTC()
	} else {
		return time.Time{}, false, false
	}
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, false, false
	}
	return t, isDate, true
}

func (h handler) confirm(w http.ResponseWriter, r *http.Request) {
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, web.MaxBodyBytes))
	if err != nil {
		web.Error(w, r, apperr.ErrTooLarge)
		return
	}
	out, err := h.svc.Confirm(r.Context(), who, id, r.Header.Get(HeaderConfirmIdempotencyKey), body, encodeOrder)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	respondOutcome(w, http.StatusOK, out)
}

func (h handler) cancel(w http.ResponseWriter, r *http.Request) {
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
	o, err := h.svc.Cancel(r.Context(), who, id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, orderWire(o))
}

func (h handler) orderRequest(w http.ResponseWriter, r *http.Request) {
	key := chi.URLParam(r, "key")
	if r.URL.RawPath != "" {
		// chi matched the escaped path, so the parameter is still escaped.
		k, err := url.PathUnescape(key)
		if err != nil {
			web.Error(w, r, order.ErrRequestNotFound)
			return
		}
		key = k
	}
	wait, err := parseWait(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	v, err := h.svc.AwaitOrderRequest(r.Context(), key, wait)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, v)
}

// parseWait reads ?wait_ms=: how long the caller is ready to wait for a final answer (0 to 20 000 ms).
func parseWait(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("wait_ms")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > int(order.MaxRequestWait/time.Millisecond) {
		return 0, apperr.Validation(apperr.FieldError{Field: "wait_ms", Message: fmt.Sprintf("must be an integer from 0 to %d", order.MaxRequestWait/time.Millisecond)})
	}
	return time.Duration(n) * time.Millisecond, nil
}

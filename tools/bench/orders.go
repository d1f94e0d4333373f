package main

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
)

// line is an order line on the wire.
type line struct {
	ProductID int64 `json:"product_id"`
	Qty       int   `json:"qty"`
}

type createOrder struct {
	CustomerID int64  `json:"customer_id"`
	Items      []line `json:"items"`
}

// randomOrder is 1–3 lines of distinct random products, quantity 1, for a random customer.
func (b *bench) randomOrder() createOrder {
	n := 1 + rand.IntN(3)
	o := createOrder{CustomerID: b.customerIDs[rand.IntN(len(b.customerIDs))]}
	for len(o.Items) < n {
		id := b.productIDs[rand.IntN(len(b.productIDs))]
		if !slices.ContainsFunc(o.Items, func(l line) bool { return l.ProductID == id }) {
			o.Items = append(o.Items, line{ProductID: id, Qty: 1})
		}
	}
	return o
}

// hotOrder is one line of the hot product (the first one seeded) for a random customer.
func (b *bench) hotOrder() createOrder {
	return createOrder{CustomerID: b.customerIDs[rand.IntN(len(b.customerIDs))], Items: []line{{ProductID: b.productIDs[0], Qty: 1}}}
}

// post sends body as JSON (nil: no body) to base+path and returns the status and the answer read in full.
func (c *apiClient) post(ctx context.Context, base, path string, body any, header map[string]string) (int, []byte, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return 0, nil, fmt.Errorf("encode request: %w", err)
		}
	}
	u, err := url.JoinPath(base, path)
	if err != nil {
		return 0, nil, fmt.Errorf("join %s and %s: %w", base, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	return res.StatusCode, rb, err
}

// httpClass is the error class of an answer that is not the expected status: the status and the error
// code of the body, or the kind of transport failure.
func httpClass(status int, body []byte, err error) string {
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled):
			return "canceled"
		case errors.As(err, &ne) && ne.Timeout():
			return "transport: timeout"
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return "transport: connection closed"
		case strings.Contains(err.Error(), "connection refused"):
			return "transport: connection refused"
		case strings.Contains(err.Error(), "connection reset"):
			return "transport: connection reset"
		}
		return "transport: other"
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
		Data struct {
			Status string `json:"status"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &e)
	code := e.Error.Code
	if code == "" {
		code = e.Data.Status // 202 PENDING
	}
	return strings.TrimSpace(strconv.Itoa(status) + " " + code)
}

// restCreate is POST /orders; it returns the new order's id.
func (b *bench) restCreate(ctx context.Context, o createOrder, header map[string]string) (int64, string) {
	status, body, err := b.api.post(ctx, b.urls["orders-api"], "/orders", o, header)
	if err != nil || status != http.StatusCreated {
		return 0, httpClass(status, body, err)
	}
	id, _ := orderFields(body)
	return id, ""
}

// orderFields reads the id and confirmed_at of an order body (the order itself, or under data).
func orderFields(body []byte) (int64, time.Time) {
	var o struct {
		ID          int64      `json:"id"`
		ConfirmedAt *time.Time `json:"confirmed_at"`
		Data        *struct {
			ID          int64      `json:"id"`
			ConfirmedAt *time.Time `json:"confirmed_at"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &o)
	if o.ID == 0 && o.Data != nil {
		o.ID, o.ConfirmedAt = o.Data.ID, o.Data.ConfirmedAt
	}
	var at time.Time
	if o.ConfirmedAt != nil {
		at = *o.ConfirmedAt
	}
	return o.ID, at
}

// orderCreate runs POST /orders and its raw twin, each closed loop with -clients.
func (b *bench) orderCreate(ctx context.Context, w *Workload) error {
	return b.orderPair(ctx, w, wlOrderCreate, b.randomOrder)
}

// hotProduct runs every order on one product through POST /orders and the raw twin.
func (b *bench) hotProduct(ctx context.Context, w *Workload) error {
	return b.orderPair(ctx, w, wlHotProduct, b.hotOrder)
}

// orderPair measures orders made by next through orders-api and through the raw twin, in -rounds
// interleaved rounds, so that a noisy neighbour on a shared machine hits both sides alike.
func (b *bench) orderPair(ctx context.Context, w *Workload, name string, next func() createOrder) error {
	var api, raw []Phase
	var retries atomic.Int64
	for r := 0; r < b.o.rounds && ctx.Err() == nil; r++ {
		ph, _ := runLoad(ctx, loadSpec{
			name: name, unit: "orders/s", clients: b.o.clients, warmup: b.o.warmup, duration: b.o.duration, targets: b.targets(),
			op: func(ctx context.Context, _ int, _ int64) string {
				_, class := b.restCreate(ctx, next(), nil)
				return class
			},
		})
		ph.Note = "POST /orders through orders-api (customer check over HTTP, relay running)"
		api = append(api, ph)
		if err := b.checkStack(); err != nil {
			w.Phases = append(w.Phases, median(api))
			return err
		}
		ph, _ = runLoad(ctx, loadSpec{
			name: name + "-raw", unit: "orders/s", clients: b.o.clients, warmup: b.o.warmup, duration: b.o.duration, targets: b.targets(),
			op: func(ctx context.Context, _ int, _ int64) string {
				return b.rawOrder(ctx, next(), &retries)
			},
		})
		ph.Note = fmt.Sprintf("database/sql, interpolateParams, %d connections; same effects, no HTTP (relay running)", b.o.clients)
		raw = append(raw, ph)
	}
	rawPh := median(raw)
	rawPh.Note += fmt.Sprintf("; %d deadlock/lock-timeout retries", retries.Load())
	w.Phases = append(w.Phases, median(api), rawPh)
	return nil
}

// median returns the phase of median throughput (the lower one of an even count), with every round's
// throughput recorded in it.
func median(phases []Phase) Phase {
	if len(phases) == 1 {
		return phases[0]
	}
	var rounds []float64
	for _, p := range phases {
		rounds = append(rounds, round(p.Throughput, 1))
	}
	sorted := slices.Clone(phases)
	slices.SortFunc(sorted, func(a, b Phase) int { return cmp.Compare(a.Throughput, b.Throughput) })
	m := sorted[(len(sorted)-1)/2]
	m.RoundThroughputs = rounds
	m.Note += fmt.Sprintf("; median of %d interleaved rounds: %v %s", len(rounds), rounds, m.Unit)
	return m
}

var (
	errCustomerNotFound  = errors.New("customer not found")
	errProductNotFound   = errors.New("product not found")
	errInsufficientStock = errors.New("insufficient stock")
)

// rawOrder is the raw twin of POST /orders, retried on deadlock and lock wait timeout like the service's
// transactions are.
func (b *bench) rawOrder(ctx context.Context, o createOrder, retries *atomic.Int64) string {
	for attempt := 1; ; attempt++ {
		err := b.rawOrderOnce(ctx, o)
		if err == nil {
			return ""
		}
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) && attempt < 5 {
			retries.Add(1)
			continue
		}
		switch {
		case errors.As(err, &me):
			return fmt.Sprintf("mysql %d", me.Number)
		case errors.Is(err, errCustomerNotFound), errors.Is(err, errProductNotFound), errors.Is(err, errInsufficientStock):
			return err.Error()
		case errors.Is(err, context.Canceled):
			return "canceled"
		}
		return "sql: " + err.Error()
	}
}

// rawOrderOnce has the effects of POST /orders in the fewest round trips the statements allow: the
// customer by primary key (before the transaction, as the service checks it before its own), then one
// transaction that locks the products in ascending id order, decrements each line's stock, inserts the
// order, its items in one multi-row insert, and one outbox row in the relay's table.
func (b *bench) rawOrderOnce(ctx context.Context, o createOrder) error {
	var cid int64
	err := b.orders.QueryRowContext(ctx, "SELECT id FROM `"+b.customersDB+"`.customers WHERE id = ? AND deleted_at IS NULL", o.CustomerID).Scan(&cid)
	if errors.Is(err, sql.ErrNoRows) {
		return errCustomerNotFound
	}
	if err != nil {
		return err
	}
	lines := slices.Clone(o.Items)
	slices.SortFunc(lines, func(a, b line) int { return int(a.ProductID - b.ProductID) })
	args := make([]any, len(lines))
	for i, l := range lines {
		args[i] = l.ProductID
	}

	tx, err := b.orders.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT id, price_cents, stock FROM products WHERE id IN (?"+strings.Repeat(", ?", len(args)-1)+") ORDER BY id FOR UPDATE", args...)
	if err != nil {
		return err
	}
	type product struct{ price, stock int64 }
	products := map[int64]product{}
	for rows.Next() {
		var id int64
		var p product
		if err := rows.Scan(&id, &p.price, &p.stock); err != nil {
			rows.Close()
			return err
		}
		products[id] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := time.Now().UTC()
	var total int64
	items := make([]any, 0, 5*len(lines))
	snapshot := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		p, ok := products[l.ProductID]
		switch {
		case !ok:
			return errProductNotFound
		case p.stock < int64(l.Qty):
			return errInsufficientStock
		}
		sub := p.price * int64(l.Qty)
		total += sub
		items = append(items, nil, l.ProductID, l.Qty, p.price, sub)
		snapshot = append(snapshot, map[string]any{"product_id": l.ProductID, "qty": l.Qty, "unit_price_cents": p.price, "subtotal_cents": sub})
	}
	for _, l := range lines {
		if _, err := tx.ExecContext(ctx, "UPDATE products SET stock = stock - ?, updated_at = ? WHERE id = ?", l.Qty, now, l.ProductID); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO orders (customer_id, status, total_cents, version, created_at) VALUES (?, 'CREATED', ?, 1, ?)", cid, total, now)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	for i := 0; i < len(items); i += 5 {
		items[i] = id
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO order_items (order_id, product_id, qty, unit_price_cents, subtotal_cents) VALUES (?, ?, ?, ?, ?)"+
		strings.Repeat(", (?, ?, ?, ?, ?)", len(lines)-1), items...); err != nil {
		return err
	}
	ev := newEvent(id, cid, total, snapshot, now, "")
	if _, err := tx.ExecContext(ctx, "INSERT INTO outbox (`uuid`, `payload`, `metadata`) VALUES (?, ?, ?)", ev.id, ev.payload, ev.metadata); err != nil {
		return err
	}
	return tx.Commit()
}

// event is an outbox row: an order.created envelope as the services write it, and the routing metadata
// the relay turns into message attributes.
type event struct {
	id       string
	payload  []byte
	metadata []byte
}

func newEvent(orderID, customerID, total int64, items []map[string]any, at time.Time, correlationID string) event {
	id := uuid.NewString()
	if correlationID == "" {
		correlationID = "bench-" + id[:8]
	}
	agg := strconv.FormatInt(orderID, 10)
	payload, _ := json.Marshal(map[string]any{
		"event_id": id, "type": "order.created", "schema_version": 1,
		"aggregate_type": "order", "aggregate_id": agg, "aggregate_version": 1,
		"occurred_at": at, "correlation_id": correlationID,
		"data": map[string]any{
			"id": orderID, "customer_id": customerID, "status": "CREATED", "total_cents": total, "items": items,
			"created_at": at, "confirmed_at": nil, "canceled_at": nil,
		},
	})
	metadata, _ := json.Marshal(map[string]string{
		"event_type": "order.created", "aggregate_type": "order", "aggregate_id": agg,
		"aggregate_version": "1", "correlation_id": correlationID,
	})
	return event{id: id, payload: payload, metadata: metadata}
}

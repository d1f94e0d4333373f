package orderdb

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// fillOrders inserts n orders spread over customers, statuses and about a year of days, created in id
// order, and refreshes the statistics the optimizer plans with.
func fillOrders(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	statuses := []string{order.StatusCreated, order.StatusConfirmed, order.StatusCanceled}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 500
	for i := 0; i < n; i += batch {
		var (
			vals []string
			args []any
		)
		for j := i; j < min(i+batch, n); j++ {
			vals = append(vals, "(?, ?, ?, 1, ?)")
			args = append(args, 1+(j*7)%40, statuses[(j*13)%3], 1000, start.Add(time.Duration(j)*2*time.Hour))
		}
		if _, err := db.Exec(`INSERT INTO orders (customer_id, status, total_cents, version, created_at) VALUES `+strings.Join(vals, ", "), args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`ANALYZE TABLE orders`); err != nil {
		t.Fatal(err)
	}
}

type plan struct{ typ, key, extra string }

func explain(t *testing.T, db *sql.DB, q order.Query) plan {
	t.Helper()
	query, args := ordersQuery(q)
	rows, err := db.Query("EXPLAIN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("EXPLAIN %s: no row", query)
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var p plan
	for i, c := range cols {
		switch c {
		case "type":
			p.typ = vals[i].String
		case "key":
			p.key = vals[i].String
		case "Extra":
			p.extra = vals[i].String
		}
	}
	return p
}

// TestOrdersQueryPlans checks, with EXPLAIN on a few thousand orders, that every filter shape of
// GET /orders is an index range or ref access (never a scan of the whole table or of a whole index),
// that the shapes without a date keep id order without a sort, and that a customer combined with a
// status or a date reads through the composite index of the pair.
func TestOrdersQueryPlans(t *testing.T) {
	db := dbtest.New(t, "orders")
	fillOrders(t, db.DB, 4000)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	before := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		q       order.Query
		dated   bool
		wantKey string
	}{
		{name: "no filter"},
		{name: "status", q: order.Query{Status: order.StatusConfirmed}},
		{name: "customer", q: order.Query{CustomerID: 7}},
		{name: "customer and status", q: order.Query{CustomerID: 7, Status: order.StatusCanceled}, wantKey: "idx_orders_customer_status"},
		{name: "from", q: order.Query{From: &from}, dated: true},
		{name: "to", q: order.Query{Before: &before}, dated: true},
		{name: "from and to", q: order.Query{From: &from, Before: &before}, dated: true},
		{name: "status and dates", q: order.Query{Status: order.StatusCreated, From: &from, Before: &before}, dated: true},
		{name: "customer and dates", q: order.Query{CustomerID: 7, From: &from, Before: &before}, dated: true, wantKey: "idx_orders_customer_created"},
		{name: "everything", q: order.Query{CustomerID: 7, Status: order.StatusCreated, From: &from, Before: &before}, dated: true},
	} {
		for _, after := range []int64{0, 1500, 3990} {
			q := tc.q
			q.AfterID, q.Limit = after, 21
			p := explain(t, db.DB, q)
			name := fmt.Sprintf("%s after %d", tc.name, after)
			if p.typ != "range" && p.typ != "ref" && p.typ != "eq_ref" && p.typ != "const" {
				t.Errorf("%s: access type %q (key %q, %s), want an index range or ref", name, p.typ, p.key, p.extra)
			}
			if p.key == "" {
				t.Errorf("%s: no index used (%s)", name, p.extra)
			}
			if !tc.dated && strings.Contains(p.extra, "filesort") {
				t.Errorf("%s: %s with key %s, want id order without a sort", name, p.extra, p.key)
			}
			if tc.wantKey != "" && after == 0 && p.key != tc.wantKey {
				t.Errorf("%s: key %q (%s), want %s", name, p.key, p.extra, tc.wantKey)
			}
		}
	}
}

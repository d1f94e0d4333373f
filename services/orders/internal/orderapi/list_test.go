package orderapi_test

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
)

type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// all follows next_cursor from path to the last page and returns every id seen, in order.
func all[T any](e *env, path string, idOf func(T) int64) []int64 {
	e.t.Helper()
	var ids []int64
	cursor := ""
	for i := 0; i < 100; i++ {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.do("GET", p, nil)
		if r.status != 200 {
			e.t.Fatalf("GET %s: got %d %s", p, r.status, r.body)
		}
		var pg page[T]
		r.json(e.t, &pg)
		for _, x := range pg.Data {
			ids = append(ids, idOf(x))
		}
		if pg.NextCursor == nil {
			if len(pg.Data) == 0 && i > 0 {
				e.t.Errorf("GET %s: trailing empty page", p)
			}
			return ids
		}
		cursor = *pg.NextCursor
	}
	e.t.Fatalf("GET %s: more than 100 pages", path)
	return nil
}

func orderID(o orderapi.Order) int64     { return o.ID }
func productID(p orderapi.Product) int64 { return p.ID }

func TestProducts(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/products", map[string]any{"sku": "KB-RED", "name": "Red Keyboard", "price_cents": 4999, "stock": 3})
	var p orderapi.Product
	r.json(t, &p)
	if r.status != 201 || p.ID == 0 || p.SKU != "KB-RED" || p.Name != "Red Keyboard" || p.PriceCents != 4999 || p.Stock != 3 || p.CreatedAt.IsZero() {
		t.Fatalf("create: got %d %s", r.status, r.body)
	}
	e.product("MS-BLUE", 1999, 0)
	e.product("CABLE-1", 500, 10)
	e.product("kb-green", 5999, 1)

	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"sku taken", map[string]any{"sku": "KB-RED", "name": "x", "price_cents": 1, "stock": 1}, 409, "SKU_TAKEN"},
		{"missing fields", map[string]any{"sku": "X"}, 400, "VALIDATION_FAILED"},
		{"negative price", map[string]any{"sku": "X", "name": "x", "price_cents": -1, "stock": 1}, 400, "VALIDATION_FAILED"},
		{"negative stock", map[string]any{"sku": "X", "name": "x", "price_cents": 1, "stock": -1}, 400, "VALIDATION_FAILED"},
		{"empty sku", map[string]any{"sku": " ", "name": "x", "price_cents": 1, "stock": 1}, 400, "VALIDATION_FAILED"},
		// Past the INT column: a validation error, not the database's.
		{"stock past the column", map[string]any{"sku": "X", "name": "x", "price_cents": 1, "stock": 3_000_000_000}, 400, "VALIDATION_FAILED"},
		{"stock over the limit", map[string]any{"sku": "X", "name": "x", "price_cents": 1, "stock": order.MaxStock + 1}, 400, "VALIDATION_FAILED"},
		// A price whose order totals could wrap int64.
		{"price over the limit", map[string]any{"sku": "X", "name": "x", "price_cents": int64(order.MaxPriceCents) + 1, "stock": 1}, 400, "VALIDATION_FAILED"},
		{"sku of 65 characters", map[string]any{"sku": strings.Repeat("é", 65), "name": "x", "price_cents": 1, "stock": 1}, 400, "VALIDATION_FAILED"},
		// The column holds 64 characters, whatever their bytes.
		{"sku of 64 two-byte characters", map[string]any{"sku": strings.Repeat("é", 64), "name": "x", "price_cents": int64(order.MaxPriceCents), "stock": order.MaxStock}, 201, ""},
	} {
		if r := e.do("POST", "/products", tc.body); r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}

	if r := e.do("GET", "/products/"+id(p.ID), nil); r.status != 200 {
		t.Errorf("get: got %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/products/9999", nil); r.status != 404 || r.code() != "PRODUCT_NOT_FOUND" {
		t.Errorf("get unknown: got %d %s, want 404 PRODUCT_NOT_FOUND", r.status, r.body)
	}
	if r := e.do("GET", "/products/abc", nil); r.status != 400 {
		t.Errorf("get bad id: got %d %s, want 400", r.status, r.body)
	}

	// Search: case-insensitive substring of sku or name; wildcards are literal.
	for _, tc := range []struct {
		search string
		want   int
	}{{"kb-", 2}, {"KEYBOARD", 1}, {"blue", 1}, {"%", 0}, {"_", 0}, {"", 5}} {
		got := all(e, "/products?limit=1&search="+url.QueryEscape(tc.search), productID)
		if len(got) != tc.want {
			t.Errorf("search %q: got %d products %v, want %d", tc.search, len(got), got, tc.want)
		}
	}
	// The failed insert of a taken sku used up an id.
	if got := all(e, "/products?limit=3", productID); !reflect.DeepEqual(got, []int64{1, 2, 3, 4, 6}) {
		t.Errorf("paging: got %v, want [1 2 3 4 6]", got)
	}
	if r := e.do("GET", "/products?search="+url.QueryEscape(strings.Repeat("é", 200)), nil); r.status != 200 {
		t.Errorf("search of 200 two-byte characters: got %d %s, want 200", r.status, r.body)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=bogus"} {
		if r := e.do("GET", "/products?"+q, nil); r.status != 400 {
			t.Errorf("%s: got %d %s, want 400", q, r.status, r.body)
		}
	}

	// PATCH price and/or stock.
	r = e.do("PATCH", "/products/"+id(p.ID), map[string]any{"price_cents": 4500})
	var got orderapi.Product
	r.json(t, &got)
	if r.status != 200 || got.PriceCents != 4500 || got.Stock != 3 || !got.UpdatedAt.After(p.UpdatedAt) {
		t.Errorf("patch price: got %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/products/"+id(p.ID), map[string]any{"stock": 0, "price_cents": 100})
	r.json(t, &got)
	if r.status != 200 || got.PriceCents != 100 || got.Stock != 0 || e.stock(p.ID) != 0 {
		t.Errorf("patch both: got %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"negative stock", "/products/" + id(p.ID), map[string]any{"stock": -1}, 400, "VALIDATION_FAILED"},
		{"stock past the column", "/products/" + id(p.ID), map[string]any{"stock": 3_000_000_000}, 400, "VALIDATION_FAILED"},
		{"price over the limit", "/products/" + id(p.ID), map[string]any{"price_cents": int64(order.MaxPriceCents) + 1}, 400, "VALIDATION_FAILED"},
		{"nothing to change", "/products/" + id(p.ID), map[string]any{}, 400, "VALIDATION_FAILED"},
		{"unknown field", "/products/" + id(p.ID), map[string]any{"sku": "Y"}, 400, "VALIDATION_FAILED"},
		{"unknown product", "/products/9999", map[string]any{"stock": 1}, 404, "PRODUCT_NOT_FOUND"},
	} {
		if r := e.do("PATCH", tc.path, tc.body); r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	// The database refuses negative stock on its own too.
	if _, err := e.db.Exec(`UPDATE products SET stock = -1 WHERE id = ?`, p.ID); err == nil {
		t.Error("negative stock accepted by the database")
	}
}

func TestListOrders(t *testing.T) {
	e := newEnv(t)
	p := e.product("LO-1", 100, 1000)
	var ids []int64
	for i := 0; i < 9; i++ {
		ids = append(ids, e.createOrder(int64(1+i%2), [2]int64{p, 1}).ID)
	}
	// Orders 0..2 on 2026-01-10, 3..5 on 2026-01-11 (noon), 6..8 today.
	for i, day := range []string{"2026-01-10 08:00:00", "2026-01-10 09:00:00", "2026-01-10 23:59:59.999999", "2026-01-11 12:00:00", "2026-01-11 12:00:00", "2026-01-11 12:00:01"} {
		if _, err := e.db.Exec(`UPDATE orders SET created_at = ? WHERE id = ?`, day, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 3, 6} {
		if r := e.do("POST", "/orders/"+id(ids[i])+"/confirm", nil, "X-Idempotency-Key", "k"+id(ids[i])); r.status != 200 {
			t.Fatalf("confirm: %d %s", r.status, r.body)
		}
	}
	for _, i := range []int{1, 7} {
		if r := e.do("POST", "/orders/"+id(ids[i])+"/cancel", nil); r.status != 200 {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
	}
	pick := func(idx ...int) []int64 {
		out := []int64{}
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", pick(0, 1, 2, 3, 4, 5, 6, 7, 8)},
		{"status=CONFIRMED", pick(0, 3, 6)},
		{"status=CANCELED", pick(1, 7)},
		{"customer_id=1", pick(0, 2, 4, 6, 8)},
		{"customer_id=1&status=CONFIRMED", pick(0, 6)},
		{"from=2026-01-10&to=2026-01-10", pick(0, 1, 2)},
		{"from=2026-01-11&to=2026-01-11", pick(3, 4, 5)},
		{"to=2026-01-11T12:00:00Z", pick(0, 1, 2, 3, 4)},
		{"from=2026-01-10T09:00:00Z&to=2026-01-11T12:00:00%2B00:00&customer_id=2", pick(1, 3)},
		{"from=2026-01-11&status=CONFIRMED&customer_id=2", pick(3)},
		{"from=2026-01-12", pick(6, 7, 8)},
		{"customer_id=3", []int64{}},
		// Bounds at the ends of what the database holds filter nothing instead of failing.
		{"to=9999-12-31", pick(0, 1, 2, 3, 4, 5, 6, 7, 8)},
		{"to=9999-12-31T23:59:59.999999999Z&status=CANCELED", pick(1, 7)},
		{"from=0001-01-01&to=2026-01-10", pick(0, 1, 2)},
		// created_at has microseconds: a finer bound compares as the instants it stands for.
		{"from=2026-01-10T23:59:59.9999995Z&to=2026-01-11", pick(3, 4, 5)},
		{"from=2026-01-10T23:59:59.999999Z&to=2026-01-11T11:59:59.9999999Z", pick(2)},
	} {
		for _, limit := range []string{"2", "100"} {
			got := all(e, "/orders?limit="+limit+"&"+tc.query, orderID)
			if got == nil {
				got = []int64{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("?%s (limit %s): got %v, want %v", tc.query, limit, got, tc.want)
			}
		}
	}
	// Lists carry no items.
	r := e.do("GET", "/orders?limit=1", nil)
	if want := fmt.Sprintf(`"id":%d`, ids[0]); r.status != 200 || !contains(r.body, want) || contains(r.body, `"items"`) {
		t.Errorf("list body: got %d %s", r.status, r.body)
	}
	for _, q := range []string{"status=NEW", "status=confirmed", "customer_id=0", "customer_id=x", "from=yesterday", "to=2026-13-01",
		"from=2026-01-12&to=2026-01-11", "cursor=abc", "limit=0", "limit=101",
		"from=0000-01-01", "to=0000-12-31", "from=0001-01-01T00:00:00%2B01:00", "to=9999-12-31T23:00:00-05:00",
		"from=9999-12-31T23:59:59.9999999Z"} {
		if r := e.do("GET", "/orders?"+q, nil); r.status != 400 {
			t.Errorf("?%s: got %d %s, want 400", q, r.status, r.body)
		}
	}
	if r := e.do("GET", "/orders/9999", nil); r.status != 404 || r.code() != "ORDER_NOT_FOUND" {
		t.Errorf("get unknown: got %d %s, want 404 ORDER_NOT_FOUND", r.status, r.body)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

package orderapi_test

import (
	"bytes"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
)

// clock is a settable clock for the service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (e *env) useClock() *clock {
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	e.configure(func(cfg *order.Config) { cfg.Now = c.Now })
	return c
}

func (e *env) keyRows(key string) int {
	e.t.Helper()
	return e.count(`SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = ?`, key)
}

func TestConfirm(t *testing.T) {
	e := newEnv(t)
	p := e.product("CF-1", 700, 10)
	o := e.createOrder(1, [2]int64{p, 2})
	other := e.createOrder(2, [2]int64{p, 1})
	path := "/orders/" + id(o.ID) + "/confirm"

	t.Run("missing key", func(t *testing.T) {
		if r := e.do("POST", path, nil); r.status != 400 || r.code() != "IDEMPOTENCY_KEY_REQUIRED" {
			t.Errorf("got %d %s, want 400 IDEMPOTENCY_KEY_REQUIRED", r.status, r.body)
		}
	})
	t.Run("invalid keys", func(t *testing.T) {
		for _, k := range []string{strings.Repeat("k", 256), "with space", "tab\there", ".", ".."} {
			if r := e.do("POST", path, nil, "X-Idempotency-Key", k); r.status != 400 || r.code() != "IDEMPOTENCY_KEY_INVALID" {
				t.Errorf("key %q: got %d %s, want 400 IDEMPOTENCY_KEY_INVALID", k, r.status, r.body)
			}
		}
	})

	first := e.do("POST", path, nil, "X-Idempotency-Key", "confirm-1", "X-Correlation-Id", "corr-confirm")
	var c orderapi.Order
	first.json(t, &c)
	if first.status != 200 || c.Status != "CONFIRMED" || c.ConfirmedAt == nil || c.ID != o.ID || !reflect.DeepEqual(c.Items, o.Items) || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("got %d %s, want 200 CONFIRMED", first.status, first.body)
	}
	if got := e.events(id(o.ID)); !reflect.DeepEqual(got, []string{"order.created@1", "order.confirmed@2"}) {
		t.Errorf("events: got %v", got)
	}
	if got := e.count(`SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(payload, '$.type') = 'order.confirmed' AND JSON_VALUE(payload, '$.correlation_id') = 'corr-confirm' AND JSON_VALUE(payload, '$.data.status') = 'CONFIRMED'`); got != 1 {
		t.Errorf("order.confirmed with the correlation id and the snapshot: got %d rows, want 1", got)
	}
	if got := e.count(`SELECT version FROM orders WHERE id = ?`, o.ID); got != 2 {
		t.Errorf("version: got %d, want 2", got)
	}

	t.Run("replay is byte for byte", func(t *testing.T) {
		r := e.do("POST", path, nil, "X-Idempotency-Key", "confirm-1")
		if r.status != 200 || !bytes.Equal(r.body, first.body) || r.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("got %d %s (replayed %q), want 200 %s with Idempotent-Replayed: true", r.status, r.body, r.header.Get("Idempotent-Replayed"), first.body)
		}
	})
	t.Run("same key on another order", func(t *testing.T) {
		r := e.do("POST", "/orders/"+id(other.ID)+"/confirm", nil, "X-Idempotency-Key", "confirm-1")
		if r.status != 422 || r.code() != "IDEMPOTENCY_KEY_REUSED" {
			t.Errorf("got %d %s, want 422 IDEMPOTENCY_KEY_REUSED", r.status, r.body)
		}
	})
	t.Run("same key with another body", func(t *testing.T) {
		r := e.do("POST", path, `{"note":"x"}`, "X-Idempotency-Key", "confirm-1")
		if r.status != 422 || r.code() != "IDEMPOTENCY_KEY_REUSED" {
			t.Errorf("got %d %s, want 422 IDEMPOTENCY_KEY_REUSED", r.status, r.body)
		}
	})
	t.Run("already confirmed, new key", func(t *testing.T) {
		r := e.do("POST", path, nil, "X-Idempotency-Key", "confirm-2")
		var got orderapi.Order
		r.json(t, &got)
		if r.status != 200 || got.Status != "CONFIRMED" || !got.ConfirmedAt.Equal(*c.ConfirmedAt) || r.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("got %d %s, want 200 with the unchanged order", r.status, r.body)
		}
		if n := e.eventCount(events.OrderConfirmed); n != 1 {
			t.Errorf("order.confirmed rows: got %d, want 1", n)
		}
	})
	t.Run("unknown order stores nothing", func(t *testing.T) {
		r := e.do("POST", "/orders/999999/confirm", nil, "X-Idempotency-Key", "confirm-404")
		if r.status != 404 || r.code() != "ORDER_NOT_FOUND" || e.keyRows("confirm-404") != 0 {
			t.Errorf("got %d %s and %d key rows, want 404 ORDER_NOT_FOUND and none", r.status, r.body, e.keyRows("confirm-404"))
		}
	})
	t.Run("canceled order", func(t *testing.T) {
		if r := e.do("POST", "/orders/"+id(other.ID)+"/cancel", nil); r.status != 200 {
			t.Fatalf("cancel: got %d %s", r.status, r.body)
		}
		for i := 0; i < 2; i++ { // a failure stores nothing, so its retry is evaluated again
			r := e.do("POST", "/orders/"+id(other.ID)+"/confirm", nil, "X-Idempotency-Key", "confirm-canceled")
			if r.status != 409 || r.code() != "ORDER_NOT_CONFIRMABLE" || r.header.Get("Idempotent-Replayed") != "" {
				t.Errorf("got %d %s, want 409 ORDER_NOT_CONFIRMABLE", r.status, r.body)
			}
		}
		if n := e.keyRows("confirm-canceled"); n != 0 {
			t.Errorf("key rows: got %d, want 0", n)
		}
		if got := e.events(id(other.ID)); !reflect.DeepEqual(got, []string{"order.created@1", "order.canceled@2"}) {
			t.Errorf("events: got %v", got)
		}
	})
}

// TestConfirmRace: 50 confirms with one key at once make one change and one event; every answer is the
// same body (or IDEMPOTENCY_KEY_IN_USE).
func TestConfirmRace(t *testing.T) {
	e := newEnv(t)
	p := e.product("CR-1", 700, 10)
	o := e.createOrder(1, [2]int64{p, 1})
	const n = 50
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		bodies = map[string]int{}
		codes  = map[int]int{}
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.try("POST", "/orders/"+id(o.ID)+"/confirm", nil, "X-Idempotency-Key", "race-key")
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			codes[r.status]++
			if r.status == 200 {
				bodies[string(r.body)]++
			} else if r.status != 409 || r.code() != "IDEMPOTENCY_KEY_IN_USE" {
				t.Errorf("got %d %s, want 200 or 409 IDEMPOTENCY_KEY_IN_USE", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if len(bodies) != 1 || codes[200] == 0 {
		t.Errorf("got %d distinct 200 bodies (statuses %v), want exactly one", len(bodies), codes)
	}
	if got := e.events(id(o.ID)); !reflect.DeepEqual(got, []string{"order.created@1", "order.confirmed@2"}) {
		t.Errorf("events: got %v, want one order.confirmed", got)
	}
	if v := e.count(`SELECT version FROM orders WHERE id = ?`, o.ID); v != 2 {
		t.Errorf("version: got %d, want 2", v)
	}
	r := e.do("POST", "/orders/"+id(o.ID)+"/confirm", nil, "X-Idempotency-Key", "race-key")
	if _, ok := bodies[string(r.body)]; r.status != 200 || !ok || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: got %d %s, want the same 200 body with Idempotent-Replayed", r.status, r.body)
	}
	t.Logf("confirm race: statuses %v", codes)
}

func TestIdempotencyKeyExpiry(t *testing.T) {
	e := newEnv(t)
	clk := e.useClock()
	e.configure(func(cfg *order.Config) { cfg.IdempotencyTTL = time.Hour })
	p := e.product("EX-1", 100, 10)
	a, b := e.createOrder(1, [2]int64{p, 1}), e.createOrder(1, [2]int64{p, 1})

	if r := e.do("POST", "/orders/"+id(a.ID)+"/confirm", nil, "X-Idempotency-Key", "ttl-key"); r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/orders/"+id(b.ID)+"/confirm", nil, "X-Idempotency-Key", "ttl-key"); r.status != 422 {
		t.Fatalf("inside the ttl: got %d %s, want 422", r.status, r.body)
	}
	clk.add(time.Hour + time.Second)
	// Expired keys count as new even before the purge has run.
	r := e.do("POST", "/orders/"+id(b.ID)+"/confirm", nil, "X-Idempotency-Key", "ttl-key")
	var got orderapi.Order
	r.json(t, &got)
	if r.status != 200 || got.ID != b.ID || got.Status != "CONFIRMED" {
		t.Errorf("after the ttl: got %d %s, want 200 for order %d", r.status, r.body, b.ID)
	}

	// The purge deletes exactly the expired keys.
	if r := e.do("POST", "/orders/"+id(a.ID)+"/confirm", nil, "X-Idempotency-Key", "fresh-key"); r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	clk.add(30 * time.Minute)
	if _, err := e.db.Exec(`INSERT INTO idempotency_keys (scope, idem_key, request_hash, target_id, response_body, created_at, expires_at)
		VALUES ('confirm', 'old-1', REPEAT('0', 64), 1, '{}', ?, ?), ('confirm', 'old-2', REPEAT('0', 64), 1, '{}', ?, ?)`,
		clk.Now().Add(-3*time.Hour), clk.Now().Add(-2*time.Hour), clk.Now().Add(-3*time.Hour), clk.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.PurgeKeys(t.Context())
	if err != nil || n != 2 {
		t.Errorf("purge: got %d, %v, want 2", n, err)
	}
	var keys []string
	rows, err := e.db.Query(`SELECT idem_key FROM idempotency_keys ORDER BY idem_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		keys = append(keys, k)
	}
	if !reflect.DeepEqual(keys, []string{"fresh-key", "ttl-key"}) {
		t.Errorf("keys left: got %v, want [fresh-key ttl-key]", keys)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	clk := e.useClock()
	e.configure(func(cfg *order.Config) { cfg.CancelWindow = 10 * time.Minute })
	p := e.product("CN-1", 300, 20)

	cancel := func(o orderapi.Order) (response, orderapi.Order) {
		t.Helper()
		r := e.do("POST", "/orders/"+id(o.ID)+"/cancel", nil)
		var got orderapi.Order
		if r.status == 200 {
			r.json(t, &got)
		}
		return r, got
	}
	confirm := func(o orderapi.Order) {
		t.Helper()
		if r := e.do("POST", "/orders/"+id(o.ID)+"/confirm", nil, "X-Idempotency-Key", "c-"+id(o.ID)); r.status != 200 {
			t.Fatalf("confirm: got %d %s", r.status, r.body)
		}
	}

	t.Run("created", func(t *testing.T) {
		o := e.createOrder(1, [2]int64{p, 4})
		r, got := cancel(o)
		if r.status != 200 || got.Status != "CANCELED" || got.CanceledAt == nil || e.stock(p) != 20 {
			t.Errorf("got %d %s, stock %d; want 200 CANCELED, stock 20", r.status, r.body, e.stock(p))
		}
		r, again := cancel(o)
		if r.status != 200 || !again.CanceledAt.Equal(*got.CanceledAt) || e.stock(p) != 20 {
			t.Errorf("again: got %d %s, stock %d; want 200 unchanged, stock 20", r.status, r.body, e.stock(p))
		}
		if ev := e.events(id(o.ID)); !reflect.DeepEqual(ev, []string{"order.created@1", "order.canceled@2"}) {
			t.Errorf("events: got %v", ev)
		}
	})
	t.Run("confirmed inside the window", func(t *testing.T) {
		o := e.createOrder(1, [2]int64{p, 5})
		confirm(o)
		clk.add(9 * time.Minute)
		r, got := cancel(o)
		if r.status != 200 || got.Status != "CANCELED" || got.ConfirmedAt == nil || e.stock(p) != 20 {
			t.Errorf("got %d %s, stock %d; want 200 CANCELED, stock 20", r.status, r.body, e.stock(p))
		}
		if ev := e.events(id(o.ID)); !reflect.DeepEqual(ev, []string{"order.created@1", "order.confirmed@2", "order.canceled@3"}) {
			t.Errorf("events: got %v", ev)
		}
	})
	t.Run("confirmed outside the window", func(t *testing.T) {
		o := e.createOrder(1, [2]int64{p, 6})
		confirm(o)
		clk.add(10*time.Minute + time.Second)
		r, _ := cancel(o)
		if r.status != 409 || r.code() != "CANCEL_WINDOW_EXPIRED" {
			t.Errorf("got %d %s, want 409 CANCEL_WINDOW_EXPIRED", r.status, r.body)
		}
		var status string
		_ = e.db.QueryRow(`SELECT status FROM orders WHERE id = ?`, o.ID).Scan(&status)
		if status != "CONFIRMED" || e.stock(p) != 14 {
			t.Errorf("got status %s, stock %d; want CONFIRMED, 14", status, e.stock(p))
		}
		if ev := e.events(id(o.ID)); !reflect.DeepEqual(ev, []string{"order.created@1", "order.confirmed@2"}) {
			t.Errorf("events: got %v", ev)
		}
	})
	t.Run("unknown order", func(t *testing.T) {
		if r := e.do("POST", "/orders/424242/cancel", nil); r.status != 404 || r.code() != "ORDER_NOT_FOUND" {
			t.Errorf("got %d %s, want 404 ORDER_NOT_FOUND", r.status, r.body)
		}
	})
	t.Run("20 concurrent cancels", func(t *testing.T) {
		before := e.stock(p)
		o := e.createOrder(1, [2]int64{p, 3})
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.try("POST", "/orders/"+id(o.ID)+"/cancel", nil)
				if err != nil || r.status != 200 {
					t.Errorf("got %v %d %s, want 200", err, r.status, r.body)
				}
			}()
		}
		wg.Wait()
		if s := e.stock(p); s != before {
			t.Errorf("stock: got %d, want %d (restored once)", s, before)
		}
		if ev := e.events(id(o.ID)); !reflect.DeepEqual(ev, []string{"order.created@1", "order.canceled@2"}) {
			t.Errorf("events: got %v, want one order.canceled", ev)
		}
	})
}

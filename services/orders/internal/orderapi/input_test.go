package orderapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCreateOrderEmptyIdempotencyKey: an Idempotency-Key header sent empty, or sent twice, is 400
// IDEMPOTENCY_KEY_INVALID, not a create without a key: retrying such a request must not make an order
// each time.
func TestCreateOrderEmptyIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	a := e.product("EK-1", 100, 10)
	send := func(values ...string) response {
		t.Helper()
		req, err := http.NewRequest("POST", e.url+"/orders", strings.NewReader(`{"customer_id":1,"items":[{"product_id":1,"qty":1}]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for _, v := range values {
			req.Header.Add("Idempotency-Key", v)
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	for name, values := range map[string][]string{
		"empty":                {""},
		"empty twice":          {"", ""},
		"twice":                {"ek-1", "ek-2"},
		"same key twice":       {"ek-1", "ek-1"},
		"a key and empty":      {"ek-1", ""},
		"two keys in one line": {"ek-1, ek-2"},
	} {
		for range 2 {
			if r := send(values...); r.status != 400 || r.code() != "IDEMPOTENCY_KEY_INVALID" {
				t.Errorf("%s: got %d %s, want 400 IDEMPOTENCY_KEY_INVALID", name, r.status, r.body)
			}
		}
	}
	if s := e.stock(a); s != 10 {
		t.Errorf("stock: got %d, want 10 (untouched)", s)
	}
	e.nothingWritten()
	// Without the header the create is not idempotent, and with one key it is.
	if r := send(); r.status != 201 {
		t.Fatalf("no key: got %d %s, want 201", r.status, r.body)
	}
	first, again := send("ek-1"), send("ek-1")
	if first.status != 201 || again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Fatalf("one key: got %d %s then %d %s, want the replay", first.status, first.body, again.status, again.body)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 2 {
		t.Errorf("orders: got %d, want 2", n)
	}
}

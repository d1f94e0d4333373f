package orderapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/services/orders"
)

// fields returns the field paths of a VALIDATION_FAILED answer.
func (r response) fields(t *testing.T) []string {
	t.Helper()
	var eb struct {
		Error struct {
			Details []struct{ Field, Message string } `json:"details"`
		} `json:"error"`
	}
	r.json(t, &eb)
	var out []string
	for _, d := range eb.Error.Details {
		if d.Message == "" {
			t.Errorf("detail %q has no message", d.Field)
		}
		out = append(out, d.Field)
	}
	return out
}

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
		req.Header.Set("Authorization", authtest.Bearer(e.bearer))
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

// TestBodyNotAnObject: a body that is JSON but not an object is INVALID_JSON on every route that takes
// one, null as much as an array; nothing is written.
func TestBodyNotAnObject(t *testing.T) {
	e := newEnv(t)
	a := e.product("NO-1", 100, 10)
	for _, body := range []string{`null`, " null\n", `[]`, `[{"customer_id":1,"items":[{"product_id":1,"qty":1}]}]`, `"x"`, `1`, `true`} {
		for _, route := range []string{"POST /products", "PATCH /products/" + id(a), "POST /orders"} {
			method, path, _ := strings.Cut(route, " ")
			if r := e.do(method, path, body); r.status != 400 || r.code() != "INVALID_JSON" {
				t.Errorf("%s %q: got %d %s, want 400 INVALID_JSON", route, body, r.status, r.body)
			}
		}
	}
	if n := e.count(`SELECT COUNT(*) FROM products`); n != 1 || e.stock(a) != 10 {
		t.Errorf("products %d, stock %d: want 1 and 10", n, e.stock(a))
	}
	e.nothingWritten()
}

// TestTextFields: a product's sku and name and the product search refuse control characters with 400
// VALIDATION_FAILED naming the field, and text encoding/json would silently turn into U+FFFD with 400
// INVALID_JSON; nothing is stored.
func TestTextFields(t *testing.T) {
	e := newEnv(t)
	valid := map[string]string{"sku": "SKU-1", "name": "Product"}
	body := func(field, raw string) string {
		m := map[string]string{}
		for k, v := range valid {
			m[k] = `"` + v + `"`
		}
		m[field] = `"` + raw + `"`
		return `{"sku":` + m["sku"] + `,"name":` + m["name"] + `,"price_cents":1,"stock":1}`
	}
	for _, field := range []string{"sku", "name"} {
		for what, ctl := range map[string]string{"NUL": `\u0000`, "tab": `\t`, "newline": `\n`, "escape": `\u001b`, "DEL": "\x7f", "C1": `\u0085`} {
			for _, v := range []string{"A" + ctl + "B", ctl + "AB", "AB" + ctl} {
				r := e.do("POST", "/products", body(field, v))
				if got := r.fields(t); r.status != 400 || r.code() != "VALIDATION_FAILED" || !reflect.DeepEqual(got, []string{field}) {
					t.Errorf("%s with %s (%q): got %d %s, want 400 VALIDATION_FAILED on %s", field, what, v, r.status, r.body, field)
				}
			}
		}
		for what, v := range map[string]string{"invalid UTF-8": "A\xffB", "truncated UTF-8": "AB\xe2\x82", "lone surrogate": `A\udfffB`} {
			if r := e.do("POST", "/products", body(field, v)); r.status != 400 || r.code() != "INVALID_JSON" {
				t.Errorf("%s with %s: got %d %s, want 400 INVALID_JSON", field, what, r.status, r.body)
			}
		}
	}
	for _, s := range []string{"\x00", "a\tb", "\x1b", "\x7f", "\u009b", "\xff", "a\xc3"} {
		r := e.do("GET", "/products?search="+url.QueryEscape(s), nil)
		if got := r.fields(t); r.status != 400 || !reflect.DeepEqual(got, []string{"search"}) {
			t.Errorf("search %q: got %d %s, want 400 on search", s, r.status, r.body)
		}
	}
	if n := e.count(`SELECT COUNT(*) FROM products`); n != 0 {
		t.Errorf("got %d products, want 0", n)
	}
	// Any script and emoji are fine; spaces around are trimmed.
	r := e.do("POST", "/products", `{"sku":" ÄÖÜ-1 ","name":"  Tastatur ⌨️ 键盘 ","price_cents":1,"stock":1}`)
	var p struct{ SKU, Name string }
	r.json(t, &p)
	if r.status != 201 || p.SKU != "ÄÖÜ-1" || p.Name != "Tastatur ⌨️ 键盘" {
		t.Errorf("got %d %s, want 201 with the sku and name trimmed", r.status, r.body)
	}
	if got := all(e, "/products?search="+url.QueryEscape(" 键盘 "), productID); len(got) != 1 {
		t.Errorf("search: got %v, want the product", got)
	}
}

// TestFieldPaths: a value of the wrong type and an unknown field inside the items are named by their
// indexed path, like the range checks name them.
func TestFieldPaths(t *testing.T) {
	e := newEnv(t)
	e.product("FP-1", 100, 10)
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{"customer_id":1,"items":[{"product_id":1,"qty":"1"}]}`, []string{"items[0].qty"}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":1,"qty":"1"}]}`, []string{"items[1].qty"}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":1,"qty":1.5}]}`, []string{"items[1].qty"}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":"1","qty":1}]}`, []string{"items[1].product_id"}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":1,"qty":1,"price":5}]}`, []string{"items[1].price"}},
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},2]}`, []string{"items[1]"}},
		{`{"customer_id":1,"items":{"product_id":1,"qty":1}}`, []string{"items"}},
		{`{"customer_id":"1","items":[{"product_id":1,"qty":1}]}`, []string{"customer_id"}},
		// The range check names the same path.
		{`{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":1,"qty":0}]}`, []string{"items[1].qty"}},
	} {
		r := e.do("POST", "/orders", tc.body)
		if got := r.fields(t); r.status != 400 || r.code() != "VALIDATION_FAILED" || !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%s: got %d %s, want 400 VALIDATION_FAILED on %v", tc.body, r.status, r.body, tc.fields)
		}
	}
	e.nothingWritten()
	if r := e.do("POST", "/products", `{"sku":"X","name":"x","price_cents":"1","stock":1}`); !reflect.DeepEqual(r.fields(t), []string{"price_cents"}) {
		t.Errorf("product price of the wrong type: got %d %s", r.status, r.body)
	}
}

// TestContractAgreesWithServer: a request openapi.yaml accepts is never refused as invalid, so a client
// generated from the contract, or a property-based tester, meets no surprise 400; and the input the
// server refuses (blank or control-laden skus and names, malformed idempotency keys, dates and cursors)
// the contract refuses too. Random values of awkward characters probe each field.
func TestContractAgreesWithServer(t *testing.T) {
	e := newEnv(t)
	c := apitest.Load(t, orders.OpenAPI)
	e.product("CA-1", 100, 1_000_000)
	o := e.createOrder(1, [2]int64{1, 1})
	serve := func(req *http.Request) int {
		req.Header.Set("Authorization", authtest.Bearer(e.bearer))
		rec := httptest.NewRecorder()
		e.handler().ServeHTTP(rec, req)
		return rec.Code
	}
	product := func(sku, name string) *http.Request {
		b, _ := json.Marshal(map[string]any{"sku": sku, "name": name, "price_cents": 1, "stock": 1})
		req := httptest.NewRequest("POST", "/products", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	create := func(key string) *http.Request {
		req := httptest.NewRequest("POST", "/orders", strings.NewReader(`{"customer_id":1,"items":[{"product_id":1,"qty":1}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		return req
	}
	confirm := func(key string) *http.Request {
		req := httptest.NewRequest("POST", "/orders/"+id(o.ID)+"/confirm", nil)
		req.Header.Set("X-Idempotency-Key", key)
		return req
	}
	get := func(path string, query ...string) *http.Request {
		v := url.Values{}
		for i := 0; i+1 < len(query); i += 2 {
			v.Set(query[i], query[i+1])
		}
		return httptest.NewRequest("GET", path+"?"+v.Encode(), nil)
	}
	// Refused by both.
	for what, req := range map[string]*http.Request{
		"blank sku":                 product("   ", "Name"),
		"sku of no-break spaces":    product("\u00a0\u2003", "Name"),
		"sku with NUL":              product("A\x00", "Name"),
		"sku with a tab":            product("A\tB", "Name"),
		"sku of 65 characters":      product(strings.Repeat("é", 65), "Name"),
		"blank name":                product("SKU", " "),
		"name with a newline":       product("SKU", "Name\n"),
		"name with C1":              product("SKU", "Na\u0085me"),
		"empty create key":          create(""),
		"create key with a space":   create("a b"),
		"create key not ASCII":      create("clé"),
		"create key too long":       create(strings.Repeat("k", 256)),
		"create key dot":            create("."),
		"create key dot dot":        create(".."),
		"empty confirm key":         confirm(""),
		"confirm key with a tab":    confirm("a\tb"),
		"confirm key dot dot":       confirm(".."),
		"from not a date":           get("/orders", "from", "never"),
		"from day out of range":     get("/orders", "from", "2026-02-30"),
		"from year 0":               get("/orders", "from", "0000-01-01"),
		"to without a zone":         get("/orders", "to", "2026-01-01T10:00:00"),
		"to with a leap second":     get("/orders", "to", "2026-01-01T10:00:60Z"),
		"to with a lowercase t":     get("/orders", "to", "2026-01-01t10:00:00Z"),
		"from before year 1 in UTC": get("/orders", "from", "0001-01-01T00:00:00+01:00"),
		"to after year 9999 in UTC": get("/orders", "to", "9999-12-31T23:00:00-05:00"),
		"from rounding into 10000":  get("/orders", "from", "9999-12-31T23:59:59.9999999Z"),
		"status unknown":            get("/orders", "status", "DONE"),
		"customer 0":                get("/orders", "customer_id", "0"),
		"limit 0":                   get("/orders", "limit", "0"),
		"malformed cursor":          get("/orders", "cursor", "bogus"),
		"search with NUL":           get("/products", "search", "a\x00"),
		"search of 201 characters":  get("/products", "search", strings.Repeat("s", 201)),
		"cursor with padding bits":  get("/products", "cursor", strings.Repeat("A", 21)+"B"),
	} {
		if err := c.ValidateRequest(req); err == nil {
			t.Errorf("%s: the contract accepts it", what)
		}
		if got := serve(req); got != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", what, got)
		}
	}

	rnd := rand.New(rand.NewPCG(5, 11))
	gen := func(chars []string, max int) string {
		var b strings.Builder
		for range rnd.IntN(max + 1) {
			b.WriteString(chars[rnd.IntN(len(chars))])
		}
		return b.String()
	}
	text := []string{"a", "Z", "Ä", "键", "😀", "\u200d", " ", " ", "\u00a0", "\u3000", "\t", "\n", "\x00", "\x7f", "\u009b", "-", "%"}
	keyChars := []string{"k", "K", "0", ".", ".", "-", "~", "/", " ", "é", "\x7f", ","}
	timeParts := [][]string{{"2026", "0000", "0001", "9999", "26"}, {"-01", "-12", "-13", "-00", "-1"}, {"-31", "-30", "-01", "-00"},
		{"", "T00:00:00", "T23:59:59", "T24:00:00", "T12:30:60", "t12:00:00"}, {"", ".5", ".123456", ".9999999"}, {"Z", "", "+01:00", "-23:59", "z", "+0100"}}
	var accepted int
	for i := range 300 {
		var ts strings.Builder
		for _, part := range timeParts {
			ts.WriteString(part[rnd.IntN(len(part))])
		}
		for _, req := range []*http.Request{
			product(fmt.Sprintf("R%d", i)+gen(text, 4), "Name"),
			product(fmt.Sprintf("S%d", i), gen(text, 6)),
			get("/products", "search", gen(text, 5)),
			create(gen(keyChars, 4)),
			confirm(gen(keyChars, 4)),
			get("/orders", []string{"from", "to"}[i%2], ts.String()),
		} {
			if c.ValidateRequest(req) != nil {
				continue
			}
			accepted++
			if got := serve(req); got == http.StatusBadRequest {
				t.Errorf("%s %s %v: the contract accepts it, the server answers 400", req.Method, req.URL, req.Header)
			}
		}
	}
	if accepted < 500 {
		t.Errorf("only %d random requests matched the contract: the probe is too weak", accepted)
	}
}

package customerapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth/authtest"
)

// testNotAnObject: a body that is JSON but not an object is INVALID_JSON, null as much as an array,
// on every route with a body; nothing is written.
func testNotAnObject(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	one := a.create("One", "one@x.example")
	path := fmt.Sprintf("/customers/%d", one.ID)
	for _, body := range []string{`null`, " null\n", `[]`, `[{"name":"A","email":"a@b.example"}]`, `"A"`, `1`, `true`, `false`} {
		a.do(http.MethodPost, "/customers", body).want(t, http.StatusBadRequest, "INVALID_JSON")
		a.do(http.MethodPut, path, body).want(t, http.StatusBadRequest, "INVALID_JSON")
	}
	if n := a.count("1=1"); n != 1 {
		t.Fatalf("got %d rows, want 1", n)
	}
	if g := decode[wireCustomer](t, a.do(http.MethodGet, path, "")); !reflect.DeepEqual(g, one) {
		t.Fatalf("got %+v, want %+v unchanged", g, one)
	}
}

// testTextFields: every text field refuses control characters (NUL, tab, newline, escape, DEL, C1) with
// 400 VALIDATION_FAILED naming the field, and text that encoding/json would silently turn into U+FFFD
// (invalid UTF-8, a lone surrogate escape) with 400 INVALID_JSON; nothing is stored.
func testTextFields(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	one := a.create("One", "one@x.example")
	path := fmt.Sprintf("/customers/%d", one.ID)
	valid := map[string]string{"name": "ACME", "email": "ops@acme.example", "phone": "123"}
	// Each value as it is written inside a JSON string.
	controls := map[string]string{
		"NUL":               `\u0000`,
		"tab":               `\t`,
		"newline":           `\n`,
		"carriage return":   `\r`,
		"escape":            `\u001b`,
		"DEL":               `\u007f`,
		"C1 next line":      `\u0085`,
		"C1 CSI":            `\u009b`,
		"raw DEL character": "\x7f",
	}
	for _, field := range []string{"name", "email", "phone"} {
		for what, ctl := range controls {
			values := []string{"1" + ctl + "23", ctl + valid[field], valid[field] + ctl}
			if field == "email" {
				values = []string{strings.Replace(valid[field], "@", ctl+"@", 1), ctl + valid[field], valid[field] + ctl}
			}
			for _, v := range values {
				fields := map[string]string{}
				for k, val := range valid {
					fields[k] = fmt.Sprintf("%q", val)
				}
				fields[field] = `"` + v + `"`
				body := fmt.Sprintf(`{"name":%s,"email":%s,"phone":%s}`, fields["name"], fields["email"], fields["phone"])
				t.Run(field+" "+what, func(t *testing.T) {
					a.do(http.MethodPost, "/customers", body).wantFields(t, field)
					a.do(http.MethodPut, path, fmt.Sprintf(`{%q:"%s"}`, field, v)).wantFields(t, field)
				})
			}
		}
		for what, v := range map[string]string{
			"invalid UTF-8":             "A\xffB",
			"truncated UTF-8":           "A\xc3",
			"UTF-16 surrogate as UTF-8": "A\xed\xa0\x80B",
			"lone high surrogate":       `A\ud83dB`,
			"lone low surrogate":        `A\ude00`,
		} {
			t.Run(field+" "+what, func(t *testing.T) {
				body := strings.Replace(`{"name":"ACME","email":"ops@acme.example","phone":"123"}`, `"`+valid[field]+`"`, `"`+v+`"`, 1)
				a.do(http.MethodPost, "/customers", body).want(t, http.StatusBadRequest, "INVALID_JSON")
				a.do(http.MethodPut, path, fmt.Sprintf(`{%q:"%s"}`, field, v)).want(t, http.StatusBadRequest, "INVALID_JSON")
			})
		}
	}
	// A name may hold any script, emoji and joiners; it is only trimmed.
	r := a.do(http.MethodPost, "/customers", `{"name":"  Ünïcødé 株式会社 👩\u200d💻 ","email":"u@x.example"}`)
	r.want(t, http.StatusCreated, "")
	if got := decode[wireCustomer](t, r); got.Name != "Ünïcødé 株式会社 👩\u200d💻" {
		t.Fatalf("got name %q", got.Name)
	}
	for _, s := range []string{"\x00", "a\tb", "a\nb", "\x1b[31m", "\x7f", "\u0085", "\xff", "a\xc3"} {
		a.do(http.MethodGet, "/customers?search="+url.QueryEscape(s), "").wantFields(t, "search")
	}
	if n := a.count("1=1"); n != 2 {
		t.Fatalf("got %d rows, want 2", n)
	}
	if g := decode[wireCustomer](t, a.do(http.MethodGet, path, "")); !reflect.DeepEqual(g, one) {
		t.Fatalf("got %+v, want %+v unchanged", g, one)
	}
}

// testEmailASCII: an email address is ASCII; an internationalized one is refused (its domain may be sent
// in its xn-- form), on create and on update.
func testEmailASCII(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	one := a.create("One", "one@x.example")
	path := fmt.Sprintf("/customers/%d", one.ID)
	for _, email := range []string{"jörg@exämple.de", "jorg@exämple.de", "jörg@example.de", "ops@例え.jp", "ｏｐｓ@acme.example", "ops\u00a0x@acme.example"} {
		a.do(http.MethodPost, "/customers", fmt.Sprintf(`{"name":"Jörg","email":%q}`, email)).wantFields(t, "email")
		a.do(http.MethodPut, path, fmt.Sprintf(`{"email":%q}`, email)).wantFields(t, "email")
	}
	if got := a.create("Jörg GmbH", "jorg@xn--exmple-cua.de"); got.Email != "jorg@xn--exmple-cua.de" || got.Name != "Jörg GmbH" {
		t.Fatalf("got %+v", got)
	}
	if n := a.count("email NOT REGEXP '^[!-~]+$'"); n != 0 {
		t.Fatalf("got %d rows with a non-ASCII email, want 0", n)
	}
	if g := decode[wireCustomer](t, a.do(http.MethodGet, path, "")); !reflect.DeepEqual(g, one) {
		t.Fatalf("got %+v, want %+v unchanged", g, one)
	}
}

// testContractAgreesWithServer: a request openapi.yaml accepts is never refused as invalid, so a client
// generated from the contract, or a property-based tester, meets no surprise 400; and the input the
// server refuses (blank or control-laden names, internationalized emails, phones without a digit,
// malformed cursors) the contract refuses too. Random values of awkward characters probe each field.
func testContractAgreesWithServer(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	serve := func(req *http.Request) int {
		req.Header.Set("Authorization", authtest.Bearer(a.bearer))
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, req)
		return rec.Code
	}
	post := func(name, email string, phone any) *http.Request {
		b, _ := json.Marshal(map[string]any{"name": name, "email": email, "phone": phone})
		req := httptest.NewRequest(http.MethodPost, "/customers", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	search := func(s string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/customers?search="+url.QueryEscape(s), nil)
	}
	cursor := func(s string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/customers?cursor="+url.QueryEscape(s), nil)
	}
	// Refused by both.
	for what, req := range map[string]*http.Request{
		"blank name":               post("   ", "a@x.example", nil),
		"name of no-break spaces":  post("\u00a0\u3000", "a@x.example", nil),
		"name with NUL":            post("A\x00B", "a@x.example", nil),
		"name with a tab":          post("A\tB", "a@x.example", nil),
		"name with a newline":      post("ACME\n", "a@x.example", nil),
		"internationalized email":  post("A", "jörg@exämple.de", nil),
		"email with a space":       post("A", "a b@x.example", nil),
		"quoted email":             post("A", `"a b"@x.example`, nil),
		"email with a tab":         post("A", "a@x.example\t", nil),
		"phone without a digit":    post("A", "a@x.example", "+()-"),
		"phone of one digit":       post("A", "a@x.example", " 1 "),
		"phone with a tab":         post("A", "a@x.example", "\t123"),
		"search with NUL":          search("a\x00"),
		"search with escape":       search("\x1b[1m"),
		"malformed cursor":         cursor("not-a-cursor"),
		"cursor with padding bits": cursor(strings.Repeat("A", 21) + "B"),
	} {
		if err := c.ValidateRequest(req); err == nil {
			t.Errorf("%s: the contract accepts it", what)
		}
		if got := serve(req); got != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", what, got)
		}
	}

	rnd := rand.New(rand.NewPCG(8, 7))
	gen := func(chars []string, max int) string {
		var b strings.Builder
		for range rnd.IntN(max + 1) {
			b.WriteString(chars[rnd.IntN(len(chars))])
		}
		return b.String()
	}
	text := []string{"a", "Z", "Ü", "株", "😀", "\u200d", " ", " ", "\u00a0", "\u2003", "\u3000", "\t", "\n", "\x00", "\x7f", "\u0085", ".", "-", "%", "_"}
	emailChars := []string{"a", "Z", "0", ".", ".", "@", "@", "-", "+", " ", "ä", `"`, "(", "_", "'", "\t", "[", "]", "~", "x", "y"}
	phoneChars := []string{"0", "5", "9", " ", "+", "-", "(", ")", ".", "x", "\t", "\u00a0"}
	var accepted int
	for i := range 400 {
		unique := fmt.Sprintf("p%d@x.example", i)
		for _, req := range []*http.Request{
			post(gen(text, 6), unique, nil),
			post("Name", gen(emailChars, 12), nil),
			post("Name", unique, gen(phoneChars, 6)),
			search(gen(text, 6)),
		} {
			if c.ValidateRequest(req) != nil {
				continue
			}
			accepted++
			if got := serve(req); got == http.StatusBadRequest {
				t.Errorf("%s %s: the contract accepts it, the server answers 400", req.Method, req.URL)
			}
		}
	}
	if accepted < 300 {
		t.Errorf("only %d random requests matched the contract: the probe is too weak", accepted)
	}
}

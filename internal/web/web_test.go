package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/web"
)

type body struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type errBody struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Details []map[string]string `json:"details"`
	} `json:"error"`
}

// decodeServer answers with the decoded body or the error Decode gave, through the real error mapping.
func decodeServer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b body
		if err := web.Decode(w, r, &b); err != nil {
			web.Error(w, r, err)
			return
		}
		web.Respond(w, http.StatusOK, b)
	})
}

func post(t *testing.T, h http.Handler, contentType string, b io.Reader) (int, errBody, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", b)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var e errBody
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return rec.Code, e, rec.Body.String()
}

func TestDecode(t *testing.T) {
	h := decodeServer()
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code, field             string
	}{
		{"ok", "application/json", `{"name":"a","count":2}`, 200, "", ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"a"}`, 200, "", ""},
		{"malformed", "application/json", `{"name":`, 400, "INVALID_JSON", ""},
		{"syntax error", "application/json", `{"name" "a"}`, 400, "INVALID_JSON", ""},
		{"empty", "application/json", ``, 400, "INVALID_JSON", ""},
		{"array", "application/json", `[1]`, 400, "INVALID_JSON", ""},
		{"empty array", "application/json", `[]`, 400, "INVALID_JSON", ""},
		{"null", "application/json", `null`, 400, "INVALID_JSON", ""},
		{"null with spaces", "application/json", " null\n", 400, "INVALID_JSON", ""},
		{"string", "application/json", `"a"`, 400, "INVALID_JSON", ""},
		{"number", "application/json", `1`, 400, "INVALID_JSON", ""},
		{"boolean", "application/json", `true`, 400, "INVALID_JSON", ""},
		{"only spaces", "application/json", " \n ", 400, "INVALID_JSON", ""},
		{"invalid UTF-8 in a string", "application/json", "{\"name\":\"a\xff\"}", 400, "INVALID_JSON", ""},
		{"invalid UTF-8 in a key", "application/json", "{\"n\xc3\":\"a\"}", 400, "INVALID_JSON", ""},
		{"truncated UTF-8 sequence", "application/json", "{\"name\":\"\xe2\x82\"}", 400, "INVALID_JSON", ""},
		{"lone high surrogate", "application/json", `{"name":"\ud83d"}`, 400, "INVALID_JSON", ""},
		{"lone low surrogate", "application/json", `{"name":"\ude00x"}`, 400, "INVALID_JSON", ""},
		{"high surrogate and a letter", "application/json", `{"name":"\ud83d\u0041"}`, 400, "INVALID_JSON", ""},
		{"surrogate pair", "application/json", `{"name":"a\ud83d\ude00","count":1}`, 200, "", ""},
		{"escaped backslash before u", "application/json", `{"name":"a\\ud800"}`, 200, "", ""},
		{"null field", "application/json", `{"name":"a","count":null}`, 200, "", ""},
		{"unknown field", "application/json", `{"name":"a","extra":1}`, 400, "VALIDATION_FAILED", "extra"},
		{"wrong type string", "application/json", `{"name":1}`, 400, "VALIDATION_FAILED", "name"},
		{"wrong type int", "application/json", `{"count":"2"}`, 400, "VALIDATION_FAILED", "count"},
		{"trailing object", "application/json", `{"name":"a"}{"name":"b"}`, 400, "INVALID_JSON", ""},
		{"trailing garbage", "application/json", `{"name":"a"} x`, 400, "INVALID_JSON", ""},
		{"text/plain", "text/plain", `{"name":"a"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"json-ish", "application/jsonx", `{"name":"a"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"unparsable type", "application/json; =", `{"name":"a"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"missing type with a body", "", `{"name":"a"}`, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e, raw := post(t, h, tc.contentType, strings.NewReader(tc.body))
			if status != tc.status || e.Error.Code != tc.code {
				t.Fatalf("got %d %s, want %d %s", status, raw, tc.status, tc.code)
			}
			if tc.field != "" && (len(e.Error.Details) != 1 || e.Error.Details[0]["field"] != tc.field) {
				t.Fatalf("got details %v, want field %q", e.Error.Details, tc.field)
			}
			if tc.status == 200 && !strings.Contains(raw, `"name":"a`) {
				t.Fatalf("got %s", raw)
			}
		})
	}
}

type line struct {
	ProductID int64 `json:"product_id"`
	Qty       int   `json:"qty"`
}

type selfDecoding struct{ v string }

func (s *selfDecoding) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.v) }

type nested struct {
	Items  []line          `json:"items"`
	Groups [][]line        `json:"groups"`
	Lookup map[string]line `json:"lookup"`
	Note   selfDecoding    `json:"note"`
	Ptr    *line           `json:"ptr"`
}

// TestDecodeFieldPaths: a wrong type and an unknown field are named by the same indexed path the
// domain's range checks use ("items[1].qty"), however deep they are.
func TestDecodeFieldPaths(t *testing.T) {
	for _, tc := range []struct{ name, body, field, message string }{
		{"first item", `{"items":[{"product_id":1,"qty":"2"}]}`, "items[0].qty", "must be of type integer"},
		{"second item", `{"items":[{"product_id":1,"qty":2},{"product_id":1,"qty":"2"}]}`, "items[1].qty", "must be of type integer"},
		{"same value earlier is fine", `{"items":[{"product_id":1,"qty":2},{"qty":2,"product_id":true}]}`, "items[1].product_id", "must be of type integer"},
		{"fraction", `{"items":[{"qty":1},{"qty":1},{"qty":1.5}]}`, "items[2].qty", "must be of type integer"},
		{"object for a number", `{"items":[{"qty":1},{"qty":{"a":[1]}}]}`, "items[1].qty", "must be of type integer"},
		{"array for a number", `{"items":[{"qty":1},{"qty":[1,2]}]}`, "items[1].qty", "must be of type integer"},
		{"element of the wrong type", `{"items":[{"qty":1},2]}`, "items[1]", "must be of type object"},
		{"not an array", `{"items":{"qty":1}}`, "items", "must be of type array"},
		{"nested arrays", `{"groups":[[{"qty":1}],[{"qty":1},{"qty":"x"}]]}`, "groups[1][1].qty", "must be of type integer"},
		{"map value", `{"lookup":{"a":{"qty":1},"b":{"qty":"x"}}}`, "lookup.b.qty", "must be of type integer"},
		{"pointer", `{"ptr":{"qty":false}}`, "ptr.qty", "must be of type integer"},
		{"self-decoding field", `{"note":5}`, "note", "must be of type string"},
		{"whitespace does not shift", "{ \"items\" : [ {\"qty\" : 1} ,\n {\"qty\" : \"1\"} ] }", "items[1].qty", "must be of type integer"},
		{"unknown top-level", `{"items":[],"extra":1}`, "extra", "unknown field"},
		{"unknown in an item", `{"items":[{"qty":1},{"qty":1,"price":2}]}`, "items[1].price", "unknown field"},
		{"unknown after a known one of the same name elsewhere", `{"lookup":{"price":{"qty":1}},"items":[{"price":2}]}`, "items[0].price", "unknown field"},
		{"unknown in nested arrays", `{"groups":[[{"qty":1,"x":1}]]}`, "groups[0][0].x", "unknown field"},
		{"case-insensitive names are known", `{"items":[{"QTY":1,"Product_ID":2,"y":1}]}`, "items[0].y", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v nested
			err := web.DecodeReader(strings.NewReader(tc.body), &v)
			e := apperr.As(err)
			if e == nil || e.Code != "VALIDATION_FAILED" || len(e.Details) != 1 {
				t.Fatalf("got %v, want one VALIDATION_FAILED detail", err)
			}
			if got := e.Details[0].(apperr.FieldError); got.Field != tc.field || got.Message != tc.message {
				t.Fatalf("got %+v, want field %q message %q", got, tc.field, tc.message)
			}
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	h := decodeServer()
	// 2 MiB in one string, and a valid value followed by 2 MiB of trailing data.
	for name, b := range map[string]string{
		"big value":    `{"name":"` + strings.Repeat("x", 2<<20) + `"}`,
		"big trailing": `{"name":"a"}` + strings.Repeat(" ", 1<<20) + `{"name":"` + strings.Repeat("y", 1<<20) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			status, e, _ := post(t, h, "application/json", strings.NewReader(b))
			if status != http.StatusRequestEntityTooLarge || e.Error.Code != "PAYLOAD_TOO_LARGE" {
				t.Fatalf("got %d %+v, want 413 PAYLOAD_TOO_LARGE", status, e.Error)
			}
		})
	}
	// Exactly at the limit is fine.
	pad := web.MaxBodyBytes - len(`{"name":""}`)
	status, _, raw := post(t, h, "application/json", strings.NewReader(`{"name":"`+strings.Repeat("z", pad)+`"}`))
	if status != http.StatusOK {
		t.Fatalf("1 MiB body: got %d %.200s", status, raw)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []int64{1, 2, 255, 256, 1 << 31, 1<<63 - 1} {
		c := web.EncodeCursor(id)
		got, err := web.DecodeCursor(c)
		if err != nil || got != id {
			t.Fatalf("DecodeCursor(EncodeCursor(%d)) = %d, %v", id, got, err)
		}
		if strings.ContainsAny(c, "+/=") {
			t.Fatalf("cursor %q is not URL-safe", c)
		}
	}
	if got, err := web.DecodeCursor(""); got != 0 || err != nil {
		t.Fatalf(`DecodeCursor("") = %d, %v; want the start`, got, err)
	}
}

func TestCursorTamper(t *testing.T) {
	c := web.EncodeCursor(42)
	raw, _ := base64.RawURLEncoding.DecodeString(c)
	flipped := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	forged := bytes.Clone(raw)
	forged[7] = 43 // another id with the old MAC
	for name, s := range map[string]string{
		"id bit flipped":   flipped(7),
		"mac bit flipped":  flipped(12),
		"forged id":        base64.RawURLEncoding.EncodeToString(forged),
		"truncated":        c[:len(c)-2],
		"extended":         c + "AA",
		"not base64":       "!!!!",
		"padded base64":    base64.URLEncoding.EncodeToString(raw),
		"plain number":     "42",
		"zero id, no mac":  base64.RawURLEncoding.EncodeToString(make([]byte, 16)),
		"other cursor key": base64.RawURLEncoding.EncodeToString(append(raw[:8:8], bytes.Repeat([]byte{7}, 8)...)),
	} {
		if got, err := web.DecodeCursor(s); !errors.Is(err, apperr.ErrInvalidCursor) {
			t.Errorf("%s: DecodeCursor(%q) = %d, %v; want INVALID_CURSOR", name, s, got, err)
		}
	}
	// Ids the server never hands out are refused even with a valid MAC.
	for _, id := range []int64{0, -1} {
		if _, err := web.DecodeCursor(web.EncodeCursor(id)); !errors.Is(err, apperr.ErrInvalidCursor) {
			t.Errorf("cursor of id %d: got %v, want INVALID_CURSOR", id, err)
		}
	}
}

func TestParsePage(t *testing.T) {
	cur := web.EncodeCursor(17)
	for _, tc := range []struct {
		query     string
		wantLimit int
		wantAfter int64
		wantCode  string
	}{
		{"", 20, 0, ""},
		{"limit=1", 1, 0, ""},
		{"limit=100", 100, 0, ""},
		{"limit=50&cursor=" + cur, 50, 17, ""},
		{"limit=0", 0, 0, "VALIDATION_FAILED"},
		{"limit=101", 0, 0, "VALIDATION_FAILED"},
		{"limit=-5", 0, 0, "VALIDATION_FAILED"},
		{"limit=abc", 0, 0, "VALIDATION_FAILED"},
		{"limit=2.5", 0, 0, "VALIDATION_FAILED"},
		{"limit=99999999999999999999", 0, 0, "VALIDATION_FAILED"},
		{"cursor=nope", 0, 0, "INVALID_CURSOR"},
	} {
		p, err := web.ParsePage(httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil))
		if tc.wantCode != "" {
			if e := apperr.As(err); e == nil || e.Code != tc.wantCode || web.Status(err) != http.StatusBadRequest {
				t.Errorf("%q: got %v, want 400 %s", tc.query, err, tc.wantCode)
			}
			continue
		}
		if err != nil || p.Limit != tc.wantLimit || p.AfterID != tc.wantAfter {
			t.Errorf("%q: got %+v %v, want limit %d after %d", tc.query, p, err, tc.wantLimit, tc.wantAfter)
		}
	}
}

func TestNewList(t *testing.T) {
	id := func(n int) int64 { return int64(n) }
	l := web.NewList([]int{1, 2, 3}, 2, id)
	if len(l.Data) != 2 || l.NextCursor == nil {
		t.Fatalf("got %+v, want 2 rows and a cursor", l)
	}
	if after, _ := web.DecodeCursor(*l.NextCursor); after != 2 {
		t.Fatalf("cursor points after %d, want 2", after)
	}
	l = web.NewList([]int{1, 2}, 2, id)
	b, _ := json.Marshal(l)
	if string(b) != `{"data":[1,2],"next_cursor":null}` {
		t.Fatalf("exact page: got %s", b)
	}
	b, _ = json.Marshal(web.NewList[int](nil, 2, id))
	if string(b) != `{"data":[],"next_cursor":null}` {
		t.Fatalf("empty page: got %s", b)
	}
}

func TestServiceToken(t *testing.T) {
	const token = "correct-horse-battery"
	h := web.ServiceToken(token)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.Respond(w, http.StatusOK, map[string]string{"ok": "yes"})
	}))
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"none", "", 401},
		{"wrong, same length", "Bearer " + strings.Repeat("x", len(token)), 401},
		{"different length", "Bearer " + token[:4], 401},
		{"prefix of a longer one", "Bearer " + token + "-and-more", 401},
		{"basic", "Basic " + token, 401},
		{"no scheme", token, 401},
		{"scheme only", "Bearer", 401},
		{"scheme and space only", "Bearer ", 401},
		{"token with a space inside", "Bearer " + token[:4] + " " + token[4:], 401},
		{"scheme glued to the token", "Bearer" + token, 401},
		{"right", "Bearer " + token, 200},
		// RFC 9110 §11.1: the auth-scheme is case-insensitive, and 1*SP may follow it.
		{"lowercase scheme", "bearer " + token, 200},
		{"uppercase scheme", "BEARER " + token, 200},
		{"mixed-case scheme", "bEaReR " + token, 200},
		{"two spaces", "Bearer  " + token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/internal/x", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.want)
			}
			if tc.want == 401 && (!strings.Contains(rec.Body.String(), `"code":"UNAUTHORIZED"`) || rec.Header().Get("WWW-Authenticate") != "Bearer") {
				t.Fatalf("got %s %v, want UNAUTHORIZED with WWW-Authenticate", rec.Body, rec.Header())
			}
		})
	}
	// An empty configured token never lets anyone in, not even with an empty bearer.
	empty := web.ServiceToken("")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	req := httptest.NewRequest(http.MethodGet, "/internal/x", nil)
	req.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	empty.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("empty token: got %d, want 401", rec.Code)
	}
}

func TestJoinURL(t *testing.T) {
	for _, tc := range []struct {
		base string
		segs []string
		want string
	}{
		{"http://h:3001/dev", []string{"internal", "customers", "1"}, "http://h:3001/dev/internal/customers/1"},
		{"http://h:3001/dev/", []string{"internal", "customers", "1"}, "http://h:3001/dev/internal/customers/1"},
		{"http://h:3001", []string{"internal", "customers", "1"}, "http://h:3001/internal/customers/1"},
		{"http://h:3001/", []string{"internal", "customers", "1"}, "http://h:3001/internal/customers/1"},
		{"http://host:3002/dev", []string{"orders"}, "http://host:3002/dev/orders"},
		{"https://api.example/prod/v1", []string{"order-requests", "key with/slash?"}, "https://api.example/prod/v1/order-requests/key%20with%2Fslash%3F"},
	} {
		got, err := web.JoinURL(tc.base, tc.segs...)
		if err != nil || got != tc.want {
			t.Errorf("JoinURL(%q, %q) = %q, %v; want %q", tc.base, tc.segs, got, err, tc.want)
		}
	}
	// A dot segment would be cleaned away by path joining: "k/.." must never reach another route.
	for _, seg := range []string{".", "..", ""} {
		if got, err := web.JoinURL("http://h:3002/dev", "internal", "order-requests", seg); err == nil {
			t.Errorf("JoinURL(.., %q) = %q, want an error", seg, got)
		}
	}
	if got, err := web.JoinURL("http://h:3002/dev", "internal", "order-requests", "a/../b?c"); err != nil || got != "http://h:3002/dev/internal/order-requests/a%2F..%2Fb%3Fc" {
		t.Errorf("JoinURL with a key holding / .. ? = %q, %v; want it escaped as one segment", got, err)
	}
	for _, bad := range []string{"", "h:3001", "/dev", "ftp://h/x", "http://h:3001/dev?x=1", "http://h:3001/dev#f", "http:///dev"} {
		if got, err := web.JoinURL(bad, "orders"); err == nil {
			t.Errorf("JoinURL(%q) = %q, want an error", bad, got)
		}
	}
}

// logBuffer collects JSON log lines written concurrently.
type logBuffer struct{ proctest.Buffer }

func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range l.Lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func newRouter(t *testing.T) (http.Handler, *logBuffer) {
	buf := &logBuffer{}
	r := web.NewRouter(logging.New(buf, "test-svc", "info"))
	r.Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := web.IDParam(r, "id")
		if err != nil {
			web.Error(w, r, err)
			return
		}
		logging.FromContext(r.Context()).Info("handler", "id", id, "corr", logging.CorrelationID(r.Context()))
		web.Respond(w, http.StatusOK, map[string]int64{"id": id})
	})
	r.Get("/panic", func(w http.ResponseWriter, r *http.Request) { panic("secret panic detail") })
	r.Get("/fail", func(w http.ResponseWriter, r *http.Request) {
		web.Error(w, r, errors.New("db password=hunter2 leaked in a driver error"))
	})
	return r, buf
}

func TestCorrelationID(t *testing.T) {
	h, buf := newRouter(t)
	for _, tc := range []struct {
		name, in string
		taken    bool
	}{
		{"taken", "abc-123", true},
		{"generated when missing", "", false},
		{"generated when too long", strings.Repeat("a", 129), false},
		{"generated when not printable", "bad id\x01", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/things/7", nil)
			if tc.in != "" {
				req.Header.Set(web.CorrelationHeader, tc.in)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(web.CorrelationHeader)
			if tc.taken && got != tc.in {
				t.Fatalf("got %q, want the request's %q echoed", got, tc.in)
			}
			if !tc.taken && (got == "" || got == tc.in || !web.ValidCorrelationID(got)) {
				t.Fatalf("got %q, want a fresh id", got)
			}
			// The id reaches the handler's logger and context.
			lines := buf.lines(t)
			var handler map[string]any
			for _, l := range lines {
				if l["msg"] == "handler" {
					handler = l
				}
			}
			if handler["correlation_id"] != got || handler["corr"] != got {
				t.Fatalf("handler log %v, want correlation id %q", handler, got)
			}
		})
	}
}

func TestRequestLog(t *testing.T) {
	h, buf := newRouter(t)
	req := httptest.NewRequest(http.MethodGet, "/things/42?x=1", nil)
	req.Header.Set(web.CorrelationHeader, "log-1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere", nil))

	var requests []map[string]any
	for _, l := range buf.lines(t) {
		if l["msg"] == "request" {
			requests = append(requests, l)
		}
	}
	if len(requests) != 2 {
		t.Fatalf("got %d request lines, want one per request: %v", len(requests), requests)
	}
	r := requests[0]
	if r["method"] != "GET" || r["route"] != "/things/{id}" || r["status"] != float64(200) || r["correlation_id"] != "log-1" || r["service"] != "test-svc" {
		t.Fatalf("got %v, want method, route pattern, status, correlation id, service", r)
	}
	if d, ok := r["duration_ms"].(float64); !ok || d < 0 {
		t.Fatalf("duration_ms: got %v", r["duration_ms"])
	}
	if requests[1]["status"] != float64(404) {
		t.Fatalf("unknown route: got %v", requests[1])
	}
}

func TestRecoverAndInternalErrors(t *testing.T) {
	h, buf := newRouter(t)
	for _, path := range []string{"/panic", "/fail"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set(web.CorrelationHeader, "corr"+strings.ReplaceAll(path, "/", "-"))
		h.ServeHTTP(rec, req)
		if rec.Code != 500 || rec.Body.String() != `{"error":{"code":"INTERNAL","message":"internal error"}}` {
			t.Fatalf("%s: got %d %s, want 500 INTERNAL and nothing else", path, rec.Code, rec.Body)
		}
	}
	// The cause is logged once, with the correlation id; the client saw none of it.
	var causes []map[string]any
	for _, l := range buf.lines(t) {
		if l["msg"] == "request failed" {
			causes = append(causes, l)
		}
	}
	if len(causes) != 2 {
		t.Fatalf("got %d error lines, want 2: %v", len(causes), causes)
	}
	if !strings.Contains(causes[0]["error"].(string), "secret panic detail") || causes[0]["correlation_id"] != "corr-panic" || causes[0]["level"] != "ERROR" {
		t.Fatalf("panic log: got %v", causes[0])
	}
	if causes[1]["correlation_id"] != "corr-fail" {
		t.Fatalf("failure log: got %v", causes[1])
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h, _ := newRouter(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nope", 404, "NOT_FOUND"},
		{http.MethodDelete, "/things/1", 405, "METHOD_NOT_ALLOWED"},
		{http.MethodGet, "/things/abc", 400, "VALIDATION_FAILED"},
		{http.MethodGet, "/things/0", 400, "VALIDATION_FAILED"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var e errBody
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != tc.status || e.Error.Code != tc.code || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: got %d %s, want %d %s as JSON", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.code)
		}
		if tc.status == 405 {
			if got := rec.Header().Get("Allow"); got != "GET" {
				t.Errorf("%s %s: Allow %q, want the methods the route has: GET", tc.method, tc.path, got)
			}
		}
	}
}

func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{apperr.Invalid("X", "x"), 400},
		{apperr.Unauthorized("X", "x"), 401},
		{apperr.Forbidden("X", "x"), 403},
		{apperr.NotFound("X", "x"), 404},
		{apperr.ErrMethodNotAllowed, 405},
		{apperr.Conflict("X", "x"), 409},
		{apperr.ErrTooLarge, 413},
		{apperr.ErrUnsupportedMedia, 415},
		{apperr.Unprocessable("X", "x"), 422},
		{apperr.Unavailable("X", "x"), 503},
		{apperr.ErrInternal, 500},
		{errors.New("plain"), 500},
		{nil, 500},
		{wrapped(apperr.NotFound("CUSTOMER_NOT_FOUND", "x")), 404},
	} {
		if got := web.Status(tc.err); got != tc.want {
			t.Errorf("Status(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func wrapped(err error) error { return errors.Join(errors.New("context"), err) }

// TestAnnotateAndLateCorrelationID: attributes added while a request runs, and a correlation id
// replaced after the body was read, end up on the request's one log line and in the response header.
func TestAnnotateAndLateCorrelationID(t *testing.T) {
	buf := &logBuffer{}
	r := web.NewRouter(logging.New(buf, "test-svc", "info"))
	r.Post("/late", func(w http.ResponseWriter, r *http.Request) {
		web.Annotate(r.Context(), "sub", "user-1")
		r = web.SetCorrelationID(w, r, "from-body")
		logging.FromContext(r.Context()).Info("handler")
		web.Respond(w, http.StatusOK, map[string]string{"corr": logging.CorrelationID(r.Context())})
	})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/late", nil)
	req.Header.Set(web.CorrelationHeader, "from-header")
	r.ServeHTTP(rec, req)
	if got := rec.Header().Get(web.CorrelationHeader); got != "from-body" || !strings.Contains(rec.Body.String(), `"from-body"`) {
		t.Fatalf("got header %q body %s, want the replaced id from-body", got, rec.Body)
	}
	var reqLine, handlerLine map[string]any
	for _, l := range buf.lines(t) {
		switch l["msg"] {
		case "request":
			reqLine = l
		case "handler":
			handlerLine = l
		}
	}
	if reqLine["correlation_id"] != "from-body" || reqLine["sub"] != "user-1" {
		t.Errorf("request line %v, want correlation_id from-body and sub user-1", reqLine)
	}
	if handlerLine["correlation_id"] != "from-body" {
		t.Errorf("handler line %v, want correlation_id from-body", handlerLine)
	}
	web.Annotate(context.Background(), "outside", "a request") // no request: nothing to add to, no panic
}

// TestErrorRendererAndRetryAfter: a router with its own error envelope uses it for handler errors, 404
// and 405 alike; a 503 says when to retry; the error code is on the request's log line.
func TestErrorRendererAndRetryAfter(t *testing.T) {
	buf := &logBuffer{}
	r := web.NewRouter(logging.New(buf, "test-svc", "info"), web.WithErrorRenderer(func(corr string, e web.ErrorObject) any {
		return map[string]any{"ok": false, "corr": corr, "problem": e}
	}))
	r.Get("/down", func(w http.ResponseWriter, r *http.Request) {
		web.Error(w, r, apperr.Unavailable("DB_DOWN", "database is down"))
	})
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/down", 503, `{"corr":"c-1","ok":false,"problem":{"code":"DB_DOWN","message":"database is down"}}`},
		{http.MethodGet, "/nope", 404, `{"corr":"c-1","ok":false,"problem":{"code":"NOT_FOUND","message":"route not found"}}`},
		{http.MethodPost, "/down", 405, `{"corr":"c-1","ok":false,"problem":{"code":"METHOD_NOT_ALLOWED","message":"method not allowed"}}`},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set(web.CorrelationHeader, "c-1")
		r.ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Body.String() != tc.body {
			t.Errorf("%s %s: got %d %s, want %d %s", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.body)
		}
		if ra := rec.Header().Get("Retry-After"); (tc.status == 503) != (ra != "") {
			t.Errorf("%s %s: Retry-After %q; want one on a 503 only", tc.method, tc.path, ra)
		}
	}
	var codes []any
	for _, l := range buf.lines(t) {
		if l["msg"] == "request" {
			codes = append(codes, l["error_code"])
		}
	}
	if fmt.Sprint(codes) != "[DB_DOWN NOT_FOUND METHOD_NOT_ALLOWED]" {
		t.Errorf("error codes on the request lines: got %v", codes)
	}
}

func TestHealth(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp: refused") }
	for _, tc := range []struct {
		name   string
		checks map[string]web.Check
		status int
		body   string
	}{
		{"up", map[string]web.Check{"db": up}, 200, `{"checks":{"db":"ok"},"service":"svc","status":"ok"}`},
		{"down", map[string]web.Check{"db": down, "sqs": up}, 503, `{"checks":{"db":"down","sqs":"ok"},"service":"svc","status":"degraded"}`},
	} {
		rec := httptest.NewRecorder()
		web.Health("svc", tc.checks)(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
		if rec.Code != tc.status || rec.Body.String() != tc.body {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- web.Serve(ctx, ln, h, slog.New(slog.NewJSONHandler(io.Discard, nil))) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel() // shutdown begins while a request is in flight
	// Poll until the listener is closed: shutdown has started, yet the request is still held.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v before the in-flight request finished", err)
	default:
	}
	close(release)
	if b := <-got; b != "finished" {
		t.Fatalf("in-flight request: got %q, want it to complete", b)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

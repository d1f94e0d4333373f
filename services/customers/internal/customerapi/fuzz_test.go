package customerapi_test

import (
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/customers/internal/customerapi"
)

// FuzzDecodeCreateRequest feeds arbitrary bodies to the decoder of POST /customers: it must never panic,
// and every failure must be a client error with a stable code, never an internal one.
func FuzzDecodeCreateRequest(f *testing.F) {
	for _, seed := range []string{
		`{"name":"ACME Corp","email":"ops@acme.com","phone":"+1-555-0100"}`,
		`{"name":"ACME Corp","email":"ops@acme.com","phone":null}`,
		`{"name":"A","email":"a@b.example","vip":true}`,
		`{"name":5}`,
		`{"name":"A"} {}`,
		`{"name":`,
		`[]`,
		`null`,
		``,
		`{"name":"\u0000\ud800","email":"x"}`,
		`{"phone":{"a":[1,2,{"b":null}]}}`,
		strings.Repeat("[", 10000),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req customerapi.CreateRequest
		err := web.DecodeReader(strings.NewReader(string(body)), &req)
		if err == nil {
			return
		}
		e := apperr.As(err)
		if e == nil || e.Code == "" || web.Status(err) != 400 {
			t.Fatalf("body %q: got %v (status %d), want a 400 application error", body, err, web.Status(err))
		}
	})
}

// FuzzDecodeUpdateRequest does the same for PUT /customers/{id}, whose fields tell absent from null.
func FuzzDecodeUpdateRequest(f *testing.F) {
	for _, seed := range []string{`{"phone":null}`, `{"name":"A","email":"a@b.example","phone":"123"}`, `{"name":1}`, `{"phone":[]}`, `{}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req customerapi.UpdateRequest
		err := web.DecodeReader(strings.NewReader(string(body)), &req)
		if err != nil && web.Status(err) != 400 {
			t.Fatalf("body %q: got %v (status %d), want 400", body, err, web.Status(err))
		}
		if err == nil && req.Phone.Null && req.Phone.Value != "" {
			t.Fatalf("body %q: phone both null and %q", body, req.Phone.Value)
		}
	})
}

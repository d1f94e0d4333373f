package customerclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/logging"
)

// upstream is a stand-in customers-api: it records what it was asked and answers with a fixed reply.
type upstream struct {
	mu      sync.Mutex
	paths   []string
	headers []http.Header
	status  int
	body    string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.paths = append(u.paths, r.URL.EscapedPath())
	u.headers = append(u.headers, r.Header.Clone())
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(u.status)
	_, _ = w.Write([]byte(u.body))
}

// TestURL is the guard against the path-doubling bug (".../dev/orders/orders"): a base holds at most a
// stage prefix, with or without a trailing slash, and the route is joined to it exactly once.
func TestURL(t *testing.T) {
	u := &upstream{status: 200, body: `{"id":1,"name":"A","email":"a@example.com","phone":null}`}
	srv := httptest.NewServer(u)
	defer srv.Close()
	tests := []struct{ base, want string }{
		{srv.URL, "/internal/customers/1"},
		{srv.URL + "/", "/internal/customers/1"},
		{srv.URL + "/dev", "/dev/internal/customers/1"},
		{srv.URL + "/dev/", "/dev/internal/customers/1"},
		{srv.URL + "/prod/customers-api", "/prod/customers-api/internal/customers/1"},
	}
	for i, tc := range tests {
		c, err := customerclient.New(tc.base, "tok", 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.base, err)
		}
		if _, err := c.Get(context.Background(), 1); err != nil {
			t.Fatalf("%s: %v", tc.base, err)
		}
		if got := u.paths[i]; got != tc.want {
			t.Errorf("base %q: asked %q, want %q", tc.base, got, tc.want)
		}
	}
	for _, bad := range []string{"", "h:3001", "ftp://h/", "http://h:3001/?x=1", "http://h:3001/#f"} {
		if _, err := customerclient.New(bad, "tok", 0, nil); err == nil {
			t.Errorf("New(%q): got no error, want one", bad)
		}
	}
}

func TestGet(t *testing.T) {
	phone := "+1-555"
	tests := []struct {
		name   string
		status int
		body   string
		want   customerclient.Customer
		err    error
	}{
		{"found", 200, `{"id":7,"name":"ACME","email":"a@acme.test","phone":"+1-555","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`,
			customerclient.Customer{ID: 7, Name: "ACME", Email: "a@acme.test", Phone: &phone}, nil},
		{"found without phone", 200, `{"id":7,"name":"ACME","email":"a@acme.test","phone":null}`,
			customerclient.Customer{ID: 7, Name: "ACME", Email: "a@acme.test"}, nil},
		{"customers-api says not found", 404, `{"error":{"code":"CUSTOMER_NOT_FOUND","message":"customer not found"}}`, customerclient.Customer{}, customerclient.ErrNotFound},
		{"no such route (wrong base)", 404, `{"error":{"code":"NOT_FOUND","message":"route not found"}}`, customerclient.Customer{}, customerclient.ErrUnavailable},
		{"404 without a body", 404, ``, customerclient.Customer{}, customerclient.ErrUnavailable},
		{"failing", 500, `{"error":{"code":"INTERNAL","message":"internal error"}}`, customerclient.Customer{}, customerclient.ErrUnavailable},
		{"unauthorized", 401, `{"error":{"code":"UNAUTHORIZED","message":"missing or invalid service token"}}`, customerclient.Customer{}, customerclient.ErrUnavailable},
		{"undecodable", 200, `<html>`, customerclient.Customer{}, customerclient.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := &upstream{status: tc.status, body: tc.body}
			srv := httptest.NewServer(up)
			defer srv.Close()
			c, err := customerclient.New(srv.URL+"/dev/", "tok", time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := logging.WithCorrelationID(context.Background(), "corr-get")
			got, err := c.Get(ctx, 7)
			if !reflect.DeepEqual(got, tc.want) || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
			if vErr := c.Verify(ctx, 7); !errors.Is(vErr, tc.err) || (vErr == nil) != (tc.err == nil) {
				t.Errorf("Verify: got %v, want %v", vErr, tc.err)
			}
			up.mu.Lock()
			defer up.mu.Unlock()
			if want := []string{"/dev/internal/customers/7", "/dev/internal/customers/7"}; !reflect.DeepEqual(up.paths, want) {
				t.Errorf("paths: got %q, want %q", up.paths, want)
			}
			for _, h := range up.headers {
				if h.Get("Authorization") != "Bearer tok" || h.Get("X-Correlation-Id") != "corr-get" || h.Get("Accept") != "application/json" {
					t.Errorf("headers: Authorization=%q X-Correlation-Id=%q Accept=%q, want Bearer tok, corr-get, application/json",
						h.Get("Authorization"), h.Get("X-Correlation-Id"), h.Get("Accept"))
				}
			}
		})
	}
}

func TestGetUnreachableAndHung(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	c, err := customerclient.New(deadURL, "tok", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), 1); !errors.Is(err, customerclient.ErrUnavailable) {
		t.Errorf("connection refused: got %v, want CUSTOMERS_UNAVAILABLE", err)
	}

	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	c, err = customerclient.New(hung.URL, "tok", 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), 1)
	if !errors.Is(err, customerclient.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung: got %v, want CUSTOMERS_UNAVAILABLE caused by the timeout", err)
	}
	if e := apperr.As(err); e == nil || e.Message != "customers service is unavailable, retry later" || strings.Contains(e.Message, "127.0.0.1") {
		t.Errorf("client-facing message: got %v, want the fixed text without the cause", e)
	}
}

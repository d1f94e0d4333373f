package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/web"
)

func TestPrincipalFromClaims(t *testing.T) {
	for _, tc := range []struct {
		name     string
		claims   map[string]any
		customer int64
		scopes   []string
		err      string
	}{
		{"operator", map[string]any{"sub": "u", "scope": "orders:read  reports:read "}, 0, []string{"orders:read", "reports:read"}, ""},
		{"no scope claim", map[string]any{"sub": "u"}, 0, nil, ""},
		{"customer as json.Number", map[string]any{"sub": "u", "customer_id": json.Number("42")}, 42, nil, ""},
		{"customer as string (API Gateway authorizer context)", map[string]any{"sub": "u", "customer_id": "42"}, 42, nil, ""},
		{"customer as float64", map[string]any{"sub": "u", "customer_id": float64(42)}, 42, nil, ""},
		{"customer beyond 2^53 as string", map[string]any{"sub": "u", "customer_id": "9223372036854775807"}, 9223372036854775807, nil, ""},
		{"customer beyond 2^53 as float64", map[string]any{"sub": "u", "customer_id": float64(1 << 60)}, 0, nil, "customer_id"},
		{"customer zero", map[string]any{"sub": "u", "customer_id": json.Number("0")}, 0, nil, "customer_id"},
		{"customer negative", map[string]any{"sub": "u", "customer_id": float64(-1)}, 0, nil, "customer_id"},
		{"customer fraction", map[string]any{"sub": "u", "customer_id": json.Number("1.5")}, 0, nil, "customer_id"},
		{"customer exponent", map[string]any{"sub": "u", "customer_id": json.Number("1e3")}, 0, nil, "customer_id"},
		{"customer empty string", map[string]any{"sub": "u", "customer_id": ""}, 0, nil, "customer_id"},
		{"customer null", map[string]any{"sub": "u", "customer_id": nil}, 0, nil, "customer_id"},
		{"customer array", map[string]any{"sub": "u", "customer_id": []any{"1"}}, 0, nil, "customer_id"},
		{"no sub", map[string]any{"scope": "orders:read"}, 0, nil, "sub"},
		{"empty sub", map[string]any{"sub": ""}, 0, nil, "sub"},
		{"sub not a string", map[string]any{"sub": json.Number("7")}, 0, nil, "sub"},
		{"sub too long", map[string]any{"sub": strings.Repeat("s", auth.MaxSubjectLen+1)}, 0, nil, "sub"},
		{"sub with a newline (log injection)", map[string]any{"sub": "u\nlevel=ERROR"}, 0, nil, "sub"},
		{"scope as an array", map[string]any{"sub": "u", "scope": []any{"orders:read"}}, 0, nil, "scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := auth.PrincipalFromClaims(tc.claims)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want an error about %s", p, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tc.claims["sub"] || p.CustomerID != tc.customer || !slices.Equal(p.Scopes, tc.scopes) {
				t.Fatalf("got %+v, want customer %d scopes %v", p, tc.customer, tc.scopes)
			}
		})
	}
}

func TestAllScopes(t *testing.T) {
	want := []string{"customers:read", "customers:write", "products:read", "products:write", "orders:read", "orders:write", "reports:read"}
	if got := auth.AllScopes(); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCaller(t *testing.T) {
	if _, err := auth.Caller(context.Background()); web.Status(err) != http.StatusUnauthorized {
		t.Errorf("no principal: got %v (status %d), want a 401 error", err, web.Status(err))
	}
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Subject: "acme-bot", CustomerID: 7, Scopes: []string{auth.ScopeOrdersRead}})
	c, err := auth.Caller(ctx)
	if err != nil || c != (identity.Caller{Actor: "acme-bot", CustomerID: 7}) {
		t.Errorf("got %+v, %v; want actor acme-bot bound to customer 7", c, err)
	}
}

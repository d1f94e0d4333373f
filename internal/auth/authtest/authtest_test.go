package authtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
)

// The helpers make what they say: the verifier takes their tokens, and refuses each refused header.
func TestTokens(t *testing.T) {
	v := authtest.Verifier()
	for name, tok := range map[string]string{
		"operator": authtest.Operator(t),
		"customer": authtest.Customer(t, "acme-bot", 7),
		"without":  authtest.Without(t, auth.ScopeOrdersWrite),
		"signed":   authtest.Sign(t, authtest.Claims("u", "orders:read")),
	} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	p, _ := v.Verify(context.Background(), authtest.Customer(t, "acme-bot", 7))
	if p.Subject != "acme-bot" || p.CustomerID != 7 || len(p.Scopes) != len(auth.AllScopes()) {
		t.Errorf("customer token: got %+v", p)
	}
	p, _ = v.Verify(context.Background(), authtest.Without(t, auth.ScopeOrdersWrite))
	if p.Has(auth.ScopeOrdersWrite) || !p.Has(auth.ScopeOrdersRead) {
		t.Errorf("without orders:write: got scopes %v", p.Scopes)
	}
	for _, r := range authtest.RefusedHeaders(t) {
		raw, ok := strings.CutPrefix(r.Header, "Bearer ")
		if !ok {
			continue
		}
		if _, err := v.Verify(context.Background(), raw); err == nil {
			t.Errorf("%s: accepted", r.Name)
		}
	}
}

// Package authtest gives tests real access tokens: HS256 tokens signed with a test secret, the
// verifier that accepts them, and the AUTH_* environment that makes a service binary accept them.
package authtest

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/auth"
)

// The issuer, audience and secret of test tokens.
const (
	Issuer   = "backoffice-test"
	Audience = "backoffice-api"
	Secret   = "authtest-hs256-secret-0123456789abcdef"
)

// Config is the verification configuration of test tokens.
func Config() auth.Config {
	return auth.Config{HS256Secret: Secret, Issuer: Issuer, Audience: Audience}
}

// Env is Config as the environment of a service binary, KEY=VALUE.
func Env() []string {
	return []string{"AUTH_HS256_SECRET=" + Secret, "AUTH_ISSUER=" + Issuer, "AUTH_AUDIENCE=" + Audience}
}

// EnvMap is Env as a map.
func EnvMap() map[string]string {
	return map[string]string{"AUTH_HS256_SECRET": Secret, "AUTH_ISSUER": Issuer, "AUTH_AUDIENCE": Audience}
}

// Verifier returns a verifier of test tokens.
func Verifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.New(context.Background(), Config(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Token signs a token for p, valid for an hour.
func Token(t testing.TB, p auth.Principal) string {
	t.Helper()
	tok, err := auth.DevToken(Config(), p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// OperatorSubject is the subject of Operator's tokens.
const OperatorSubject = "test-operator"

// Operator signs a token of a backoffice operator with every scope.
func Operator(t testing.TB) string {
	t.Helper()
	return Token(t, auth.Principal{Subject: OperatorSubject, Scopes: auth.AllScopes()})
}

// Customer signs a token of customer id's own integration, subject sub, with every scope: what a
// customer-bound caller may do is then decided by the binding alone.
func Customer(t testing.TB, sub string, id int64) string {
	t.Helper()
	return Token(t, auth.Principal{Subject: sub, CustomerID: id, Scopes: auth.AllScopes()})
}

// Without signs an operator's token with every scope but the ones named.
func Without(t testing.TB, scopes ...string) string {
	t.Helper()
	var keep []string
	for _, s := range auth.AllScopes() {
		if !slices.Contains(scopes, s) {
			keep = append(keep, s)
		}
	}
	return Token(t, auth.Principal{Subject: OperatorSubject, Scopes: keep})
}

// Bearer is the Authorization header value of tok.
func Bearer(tok string) string { return "Bearer " + tok }

// Package authtest gives tests real access tokens: HS256 tokens signed with a test secret, the
// verifier that accepts them, and the AUTH_* environment that makes a service binary accept them.
package authtest

import (
	"context"
	"encoding/base64"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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
func Verifier() *auth.Verifier {
	v, err := auth.New(context.Background(), Config(), slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err) // Config is a constant, valid configuration
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

// Sign signs claims as they are with the test secret (HS256): for tokens DevToken would not make,
// expired or for another audience. Claims it leaves out are not added.
func Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Claims are valid claims of a test token for sub, with scope; change them to make an invalid one.
func Claims(sub, scope string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": Issuer, "aud": Audience, "sub": sub, "scope": scope, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// Bearer is the Authorization header value of tok.
func Bearer(tok string) string { return "Bearer " + tok }

// Refused is an Authorization header a public route must answer with 401 UNAUTHENTICATED.
type Refused struct {
	Name   string
	Header string // "" sends no Authorization header
}

// RefusedHeaders returns the kinds of Authorization headers a public route must refuse, each with a
// token that fails for one reason: what a route's own test sends to show it is behind Authenticate
// (the verifier's exhaustive cases are package auth's tests).
func RefusedHeaders(t testing.TB) []Refused {
	t.Helper()
	valid := Claims("refused-test", strings.Join(auth.AllScopes(), " "))
	with := func(k string, v any) map[string]any {
		c := maps.Clone(valid)
		c[k] = v
		return c
	}
	other, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(valid)).SignedString([]byte("another-secret-of-at-least-32-bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(valid)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	good := Sign(t, valid)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else"}`)) + "." + parts[2]
	hour := time.Hour
	return []Refused{
		{"no token", ""},
		{"another scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:secret"))},
		{"garbage", "Bearer not-a-jwt"},
		{"alg none", "Bearer " + none},
		{"signed with another secret", "Bearer " + other},
		{"tampered payload", "Bearer " + tampered},
		{"expired", "Bearer " + Sign(t, with("exp", time.Now().Add(-hour).Unix()))},
		{"not yet valid", "Bearer " + Sign(t, with("nbf", time.Now().Add(hour).Unix()))},
		{"another issuer", "Bearer " + Sign(t, with("iss", "someone-else"))},
		{"another audience", "Bearer " + Sign(t, with("aud", "another-api"))},
		{"no subject", "Bearer " + Sign(t, with("sub", ""))},
	}
}

package main

import (
	"bytes"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/config"
)

func env(kv ...string) func(string) string {
	m := map[string]string{
		"AUTH_HS256_SECRET": "local-dev-secret-that-is-long-enough-123",
		"AUTH_ISSUER":       "backoffice-dev",
		"AUTH_AUDIENCE":     "backoffice-api",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// verify checks tok with the verifier the services build from the same environment.
func verify(t *testing.T, getenv func(string) string, tok string) auth.Principal {
	t.Helper()
	l := config.New(getenv)
	cfg := auth.LoadConfig(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("the printed token does not verify: %v", err)
	}
	return p
}

func mint(t *testing.T, getenv func(string) string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(args, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "\n") || strings.Count(out.String(), "\n") != 1 || errOut.Len() != 0 {
		t.Fatalf("stdout %q stderr %q, want the token alone on one line", out.String(), errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func TestDefaultTokenIsAnOperatorWithEveryScope(t *testing.T) {
	getenv := env()
	tok := mint(t, getenv)
	p := verify(t, getenv, tok)
	if p.Subject != "dev-operator" || !p.Operator() || !slices.Equal(p.Scopes, auth.AllScopes()) {
		t.Fatalf("got %+v, want dev-operator with every scope and no customer", p)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	exp, _ := claims.GetExpirationTime()
	if left := time.Until(exp.Time); left > 12*time.Hour || left < 12*time.Hour-time.Minute {
		t.Fatalf("valid for %s, want 12h", left)
	}
	if _, ok := claims["customer_id"]; ok {
		t.Fatalf("an operator token carries customer_id: %v", claims)
	}
}

func TestFlags(t *testing.T) {
	getenv := env()
	tok := mint(t, getenv, "-sub", "acme-integration", "-scopes", "orders:read,orders:write products:read", "-customer-id", "7", "-ttl", "5m")
	p := verify(t, getenv, tok)
	if p.Subject != "acme-integration" || p.CustomerID != 7 || !slices.Equal(p.Scopes, []string{"orders:read", "orders:write", "products:read"}) {
		t.Fatalf("got %+v", p)
	}
	if p := verify(t, getenv, mint(t, getenv, "-scopes", "")); len(p.Scopes) != 0 {
		t.Fatalf("-scopes '': got %v, want none", p.Scopes)
	}
	// A token for another issuer's verifier does not verify.
	l := config.New(env("AUTH_ISSUER", "someone-else"))
	v, err := auth.New(t.Context(), auth.LoadConfig(l), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), tok); err == nil {
		t.Fatal("a token for backoffice-dev verified against issuer someone-else")
	}
}

func TestErrorsAreOneLineNamingTheProblem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		args   []string
		want   string
	}{
		{"no secret", env("AUTH_HS256_SECRET", ""), nil, "config: AUTH_HS256_SECRET is required"},
		{"no secret, JWKS set", env("AUTH_HS256_SECRET", "", "AUTH_JWKS_URL", "https://idp.example.com/jwks"), nil, "config: AUTH_HS256_SECRET is required"},
		{"short secret", env("AUTH_HS256_SECRET", "short"), nil, "config: AUTH_HS256_SECRET must be at least 32 bytes"},
		{"no issuer", env("AUTH_ISSUER", ""), nil, "config: AUTH_ISSUER is required"},
		{"no audience", env("AUTH_AUDIENCE", ""), nil, "config: AUTH_AUDIENCE is required"},
		{"no issuer while disabled", env("AUTH_ISSUER", "", "AUTH_DISABLED", "true"), nil, "config: AUTH_ISSUER is required"},
		{"unknown scope", env(), []string{"-scopes", "orders:raed"}, `-scopes: unknown scope "orders:raed"`},
		{"negative customer", env(), []string{"-customer-id", "-4"}, "-customer-id must be a positive customer id"},
		{"customer not a number", env(), []string{"-customer-id", "acme"}, `invalid value "acme" for flag -customer-id`},
		{"zero ttl", env(), []string{"-ttl", "0s"}, "-ttl must be positive"},
		{"ttl not a duration", env(), []string{"-ttl", "12"}, `invalid value "12" for flag -ttl`},
		{"unknown flag", env(), []string{"-scope", "x"}, "flag provided but not defined: -scope"},
		{"stray argument", env(), []string{"orders:read"}, `unexpected argument "orders:read"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tc.args, tc.getenv, &out, &errOut)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line starting %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q on failure, want nothing on stdout", out.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-h"}, env(), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "-customer-id") || !strings.Contains(errOut.String(), "AUTH_HS256_SECRET") {
		t.Fatalf("stdout %q stderr %q, want the usage on stderr", out.String(), errOut.String())
	}
}

package auth_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/config"
)

const (
	testIssuer   = "https://idp.test/realms/backoffice"
	testAudience = "backoffice-api"
	testSecret   = "test-secret-of-at-least-32-bytes-0123456789"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// base is a working local environment; tests override single variables.
func base(kv ...string) func(string) string {
	return env(append([]string{
		"AUTH_HS256_SECRET", testSecret,
		"AUTH_ISSUER", testIssuer,
		"AUTH_AUDIENCE", testAudience,
	}, kv...)...)
}

func load(getenv func(string) string) (auth.Config, error) {
	l := config.New(getenv)
	c := auth.LoadConfig(l)
	return c, l.Err()
}

func TestLoadConfig(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.HS256Secret != testSecret || c.Issuer != testIssuer || c.Audience != testAudience || c.JWKSURL != "" || c.Disabled ||
		c.JWKSRefresh != 15*time.Minute || c.JWKSRefreshLimit != 10*time.Second || c.JWKSTimeout != 5*time.Second {
		t.Fatalf("got %+v", c)
	}

	c, err = load(env("AUTH_JWKS_URL", "https://idp.example.com/.well-known/jwks.json", "AUTH_ISSUER", testIssuer, "AUTH_AUDIENCE", testAudience,
		"AUTH_JWKS_REFRESH", "1h", "AUTH_JWKS_REFRESH_LIMIT", "30s", "AUTH_JWKS_TIMEOUT", "2s", "AUTH_DISABLED", "FALSE"))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWKSURL != "https://idp.example.com/.well-known/jwks.json" || c.HS256Secret != "" || c.JWKSRefresh != time.Hour ||
		c.JWKSRefreshLimit != 30*time.Second || c.JWKSTimeout != 2*time.Second {
		t.Fatalf("got %+v", c)
	}

	for _, u := range []string{"http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks"} {
		if _, err := load(base("AUTH_JWKS_URL", u)); err != nil {
			t.Fatalf("AUTH_JWKS_URL=%s (plain http to this machine): %v", u, err)
		}
	}

	// Disabled needs nothing else.
	c, err = load(env("AUTH_DISABLED", "true"))
	if err != nil || !c.Disabled {
		t.Fatalf("AUTH_DISABLED=true alone: got %+v, %v", c, err)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		want   string
	}{
		{"no key source", env("AUTH_ISSUER", testIssuer, "AUTH_AUDIENCE", testAudience),
			"config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set"},
		{"nothing at all", env(), "config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set"},
		{"secret too short", base("AUTH_HS256_SECRET", "only-31-bytes-long-0123456789ab"), "config: AUTH_HS256_SECRET must be at least 32 bytes, got 31"},
		{"secret too short while disabled", env("AUTH_DISABLED", "true", "AUTH_HS256_SECRET", "short"), "config: AUTH_HS256_SECRET must be at least 32 bytes"},
		{"no issuer", env("AUTH_HS256_SECRET", testSecret, "AUTH_AUDIENCE", testAudience), "config: AUTH_ISSUER is required"},
		{"blank issuer", base("AUTH_ISSUER", "  "), "config: AUTH_ISSUER is required"},
		{"no audience", env("AUTH_HS256_SECRET", testSecret, "AUTH_ISSUER", testIssuer), "config: AUTH_AUDIENCE is required"},
		{"disabled not a boolean", base("AUTH_DISABLED", "yes"), `config: AUTH_DISABLED must be one of true, false, got "yes"`},
		{"jwks url not a url", base("AUTH_JWKS_URL", "idp.example.com/jwks"), "config: AUTH_JWKS_URL must be an absolute https URL"},
		{"jwks url other scheme", base("AUTH_JWKS_URL", "ftp://idp.example.com/jwks"), "config: AUTH_JWKS_URL must be an absolute https URL"},
		{"jwks url plain http to another host", base("AUTH_JWKS_URL", "http://idp.example.com/jwks"), "config: AUTH_JWKS_URL must use https"},
		{"refresh not a duration", base("AUTH_JWKS_REFRESH", "15"), "config: AUTH_JWKS_REFRESH must be a positive duration"},
		{"refresh negative", base("AUTH_JWKS_REFRESH", "-1m"), "config: AUTH_JWKS_REFRESH must be a positive duration"},
		{"refresh above a day", base("AUTH_JWKS_REFRESH", "48h"), "config: AUTH_JWKS_REFRESH must be a positive duration"},
		{"refresh limit bad", base("AUTH_JWKS_REFRESH_LIMIT", "often"), "config: AUTH_JWKS_REFRESH_LIMIT must be a positive duration"},
		{"refresh limit above an hour", base("AUTH_JWKS_REFRESH_LIMIT", "2h"), "config: AUTH_JWKS_REFRESH_LIMIT must be a positive duration"},
		{"timeout bad", base("AUTH_JWKS_TIMEOUT", "0s"), "config: AUTH_JWKS_TIMEOUT must be a positive duration"},
		{"timeout above a minute", base("AUTH_JWKS_TIMEOUT", "5m"), "config: AUTH_JWKS_TIMEOUT must be a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.getenv)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line starting %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "only-31-bytes") || strings.Contains(err.Error(), testSecret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestConfigLogValueMasksTheSecret(t *testing.T) {
	c, err := load(base("AUTH_JWKS_URL", "https://idp.example.com/jwks"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "auth", c)
	out := buf.String()
	if strings.Contains(out, testSecret) || strings.Contains(out, testSecret[:8]) {
		t.Fatalf("the logged config shows the secret: %s", out)
	}
	for _, want := range []string{`"hs256_secret":"*** (43 chars)"`, `"issuer":"` + testIssuer + `"`, `"audience":"` + testAudience + `"`,
		`"jwks_url":"https://idp.example.com/jwks"`, `"disabled":false`, `"jwks_refresh":"15m0s"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("logged config %s lacks %s", out, want)
		}
	}
}

package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
)

// The banner's export line holds a token the services accept: an operator's, with every scope, for
// 12 hours.
func TestTokenBanner(t *testing.T) {
	env := authtest.EnvMap()
	out := tokenBanner(func(k string) string { return env[k] })
	var tok string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "export TOKEN="); ok {
			tok = v
		}
	}
	if tok == "" {
		t.Fatalf("no export TOKEN= line in\n%s", out)
	}
	p, err := authtest.Verifier().Verify(context.Background(), tok)
	if err != nil || !p.Operator() || !slices.Equal(p.Scopes, auth.AllScopes()) || p.Subject != "dev-operator" {
		t.Fatalf("token: got %+v, %v; want an operator with every scope", p, err)
	}

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"disabled":               {map[string]string{"AUTH_DISABLED": "true"}, "not checked (AUTH_DISABLED=true)"},
		"identity provider only": {map[string]string{"AUTH_JWKS_URL": "https://idp.example/jwks.json", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}, "export TOKEN=<access token>"},
		"short secret":           {map[string]string{"AUTH_HS256_SECRET": "short", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}, "No dev access token: config: AUTH_HS256_SECRET"},
	} {
		t.Run(name, func(t *testing.T) {
			if out := tokenBanner(func(k string) string { return tc.env[k] }); !strings.Contains(out, tc.want) {
				t.Errorf("got\n%s\nwant it to say %q", out, tc.want)
			}
		})
	}
}

package main

import (
	"context"
	"testing"

	"github.com/b2b/backoffice/internal/auth/authtest"
)

// Without -bearer the harness signs an operator's token the started services accept, from the env file.
func TestBearer(t *testing.T) {
	b := &bench{o: options{}, env: authtest.EnvMap()}
	tok, err := b.bearer()
	if err != nil {
		t.Fatal(err)
	}
	if p, err := authtest.Verifier().Verify(context.Background(), tok); err != nil || !p.Operator() || p.Subject != "bench" {
		t.Fatalf("got %+v, %v; want an operator token the services accept", p, err)
	}
	b.o.bearer = "given"
	if tok, _ := b.bearer(); tok != "given" {
		t.Errorf("-bearer: got %q, want it sent as given", tok)
	}
	for name, env := range map[string]map[string]string{
		"authentication disabled": {"AUTH_DISABLED": "true"},
		"identity provider only":  {"AUTH_JWKS_URL": "https://idp.example/jwks.json", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"},
	} {
		b := &bench{o: options{}, env: env}
		if tok, err := b.bearer(); tok != "" || err != nil {
			t.Errorf("%s: got %q, %v; want no token", name, tok, err)
		}
	}
}

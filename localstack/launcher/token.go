package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/config"
)

// devTokenTTL is how long the access token printed at start is valid: a working day.
const devTokenTTL = 12 * time.Hour

// tokenBanner is the part of the start banner about access tokens: a ready `export TOKEN=...` line with a
// dev token (an operator with every scope, signed with AUTH_HS256_SECRET) for the public routes, or what
// to do instead when the stack does not verify locally signed tokens.
func tokenBanner(getenv func(string) string) string {
	l := config.New(getenv)
	cfg := auth.LoadConfig(l)
	switch {
	case cfg.Disabled:
		return " Access tokens are not checked (AUTH_DISABLED=true): every request acts as an operator.\n" + rule
	case cfg.HS256Secret == "":
		return " The public routes need an access token from the identity provider (AUTH_JWKS_URL):\n" +
			"   export TOKEN=<access token>\n" + rule
	case l.Err() != nil:
		return fmt.Sprintf(" No dev access token: %v\n%s", l.Err(), rule)
	}
	tok, err := auth.DevToken(cfg, auth.Principal{Subject: "dev-operator", Scopes: auth.AllScopes()}, devTokenTTL)
	if err != nil {
		return fmt.Sprintf(" No dev access token: %v\n%s", err, rule)
	}
	return strings.Join([]string{
		" The public routes (all but /health, /openapi.yaml, /metrics) need an access token. Paste this (an",
		" operator with every scope, valid 12 h; `make token SCOPES=... CUSTOMER_ID=...` makes others):",
		"",
		"   export TOKEN=" + tok,
		"",
		` and send -H "Authorization: Bearer $TOKEN" (see README.md).`,
		"",
	}, "\n") + rule
}

const rule = "================================================================================\n"

package main

import (
	"fmt"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/config"
)

// bearer is the access token sent on public routes: -bearer when given; else, when the env file lets the
// started services verify locally signed tokens (AUTH_HS256_SECRET), an operator's dev token with every
// scope signed with it, as `make token` makes; else none (authentication disabled, or an identity
// provider only: pass -bearer).
func (b *bench) bearer() (string, error) {
	if b.o.bearer != "" {
		return b.o.bearer, nil
	}
	l := config.New(func(k string) string { return b.env[k] })
	cfg := auth.LoadConfig(l)
	if cfg.Disabled || cfg.HS256Secret == "" {
		return "", nil
	}
	if err := l.Err(); err != nil {
		return "", fmt.Errorf("access token from the env file: %w", err)
	}
	// Longer than any run, so a token never expires under load.
	tok, err := auth.DevToken(cfg, auth.Principal{Subject: "bench", Scopes: auth.AllScopes()}, 24*time.Hour)
	if err != nil {
		return "", fmt.Errorf("access token from the env file: %w", err)
	}
	return tok, nil
}

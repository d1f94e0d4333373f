package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/b2b/backoffice/internal/config"
)

// MinSecretLen is the shortest AUTH_HS256_SECRET accepted: RFC 7518 §3.2 asks for a key at least as
// long as the HS256 hash output, 32 bytes.
const MinSecretLen = 32

// Defaults of the optional tuning variables.
const (
	DefaultJWKSRefresh      = 15 * time.Minute
	DefaultJWKSRefreshLimit = 10 * time.Second
	DefaultJWKSTimeout      = 5 * time.Second
)

// Config says how access tokens are verified. At least one key source is needed unless Disabled: the
// identity provider's key set (JWKSURL) for tokens signed with public-key algorithms, the shared
// HS256Secret for locally minted tokens, or both.
type Config struct {
	// JWKSURL is where the identity provider publishes its public keys (AUTH_JWKS_URL).
	JWKSURL string
	// HS256Secret is the shared secret of HS256 tokens (AUTH_HS256_SECRET), at least MinSecretLen bytes.
	HS256Secret string
	// Issuer must equal a token's iss (AUTH_ISSUER).
	Issuer string
	// Audience must be among a token's aud (AUTH_AUDIENCE).
	Audience string
	// Disabled lets every request through as an operator with every scope (AUTH_DISABLED); only for
	// local experiments.
	Disabled bool
	// JWKSRefresh is how often the key set is fetched in the background (AUTH_JWKS_REFRESH).
	JWKSRefresh time.Duration
	// JWKSRefreshLimit is the shortest time between two fetches of the key set, whatever asks for them:
	// a token with an unknown kid, or a retry after a failure (AUTH_JWKS_REFRESH_LIMIT). It keeps
	// tokens with made-up kids from turning the service into a load generator against the provider.
	JWKSRefreshLimit time.Duration
	// JWKSTimeout bounds one fetch of the key set, and so the wait for it at start (AUTH_JWKS_TIMEOUT).
	JWKSTimeout time.Duration
}

// LoadConfig reads AUTH_JWKS_URL, AUTH_HS256_SECRET, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_DISABLED and the
// optional AUTH_JWKS_REFRESH, AUTH_JWKS_REFRESH_LIMIT and AUTH_JWKS_TIMEOUT. Problems are recorded in l,
// each naming its variable.
func LoadConfig(l *config.Loader) Config {
	c := Config{
		JWKSURL: l.String("AUTH_JWKS_URL", ""),
		// Raw: a secret is used byte for byte, spaces included.
		HS256Secret:      l.Raw("AUTH_HS256_SECRET"),
		Disabled:         l.OneOf("AUTH_DISABLED", "false", "true", "false") == "true",
		JWKSRefresh:      l.Duration("AUTH_JWKS_REFRESH", DefaultJWKSRefresh, 24*time.Hour),
		JWKSRefreshLimit: l.Duration("AUTH_JWKS_REFRESH_LIMIT", DefaultJWKSRefreshLimit, time.Hour),
		JWKSTimeout:      l.Duration("AUTH_JWKS_TIMEOUT", DefaultJWKSTimeout, time.Minute),
	}
	// Values that are set are checked even when auth is disabled: a bad value is a mistake either way.
	if c.JWKSURL != "" {
		l.Check("AUTH_JWKS_URL", checkJWKSURL(c.JWKSURL))
	}
	if c.HS256Secret != "" && len(c.HS256Secret) < MinSecretLen {
		l.Check("AUTH_HS256_SECRET", fmt.Errorf("must be at least %d bytes, got %d", MinSecretLen, len(c.HS256Secret)))
	}
	if c.Disabled {
		c.Issuer, c.Audience = l.String("AUTH_ISSUER", ""), l.String("AUTH_AUDIENCE", "")
		return c
	}
	if c.JWKSURL == "" && c.HS256Secret == "" {
		l.Check("AUTH_JWKS_URL", errors.New("or AUTH_HS256_SECRET must be set to verify access tokens (AUTH_DISABLED=true only for local experiments)"))
	}
	c.Issuer = l.Required("AUTH_ISSUER")
	c.Audience = l.Required("AUTH_AUDIENCE")
	return c
}

// checkJWKSURL accepts an absolute http(s) URL; plain http only to this machine, because keys fetched
// over an unauthenticated channel would let anyone on the path mint valid tokens.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("must be an absolute https URL, got %q", raw)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("must use https (plain http only to localhost), got %q", raw)
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LogValue is how the configuration appears in the start-up log: the secret masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("disabled", c.Disabled),
		slog.String("jwks_url", c.JWKSURL),
		slog.String("hs256_secret", config.Secret(c.HS256Secret)),
		slog.String("issuer", c.Issuer),
		slog.String("audience", c.Audience),
		slog.String("jwks_refresh", c.JWKSRefresh.String()),
		slog.String("jwks_refresh_limit", c.JWKSRefreshLimit.String()),
		slog.String("jwks_timeout", c.JWKSTimeout.String()),
	)
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 60 * time.Second

// MaxTokenLen bounds the size of a token worth parsing; real access tokens are a few KiB at most.
const MaxTokenLen = 16 << 10

// algHS256 is the only algorithm verified with the shared secret.
const algHS256 = "HS256"

// publicKeyAlgs are the algorithms verified with a key from the identity provider's set. HMAC is not
// among them, so a public key can never serve as an HMAC secret, and neither is "none".
func publicKeyAlgs() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
}

// DisabledSubject is the subject of every request while authentication is disabled.
const DisabledSubject = "auth-disabled"

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	disabled bool
	secret   []byte
	keys     *keySet // nil without AUTH_JWKS_URL
	parser   *jwt.Parser
}

// New returns a verifier for cfg. With a JWKS URL it fetches the key set once, waiting at most
// cfg.JWKSTimeout, and keeps it fresh in the background until ctx ends. A provider that does not answer
// at start does not stop the service (its internal routes and health check need no provider): the
// failure is logged, fetches are retried in the background, and tokens that need a key are answered as
// unavailable until the set loads. An error means cfg itself is unusable.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Verifier, error) {
	if cfg.Disabled {
		log.Warn("authentication is disabled (AUTH_DISABLED=true): every request acts as an operator with every scope; for local experiments only")
		return &Verifier{disabled: true}, nil
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	v := &Verifier{}
	var algs []string
	if cfg.HS256Secret != "" {
		v.secret = []byte(cfg.HS256Secret)
		algs = append(algs, algHS256)
	}
	if cfg.JWKSURL != "" {
		algs = append(algs, publicKeyAlgs()...)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), // a token that never expires cannot be revoked by waiting
		jwt.WithIssuedAt(),
		jwt.WithJSONNumber(), // customer_id beyond 2^53 stays exact
		jwt.WithStrictDecoding(),
	)
	if cfg.JWKSURL != "" {
		v.keys = newKeySet(ctx, cfg.withDefaults(), log)
		v.keys.refresh(ctx, false)
		go v.keys.run(ctx)
	}
	return v, nil
}

// check repeats LoadConfig's rules for a Config built in code.
func (c Config) check() error {
	switch {
	case c.JWKSURL == "" && c.HS256Secret == "":
		return errors.New("config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set to verify access tokens")
	case c.HS256Secret != "" && len(c.HS256Secret) < MinSecretLen:
		return fmt.Errorf("config: AUTH_HS256_SECRET must be at least %d bytes, got %d", MinSecretLen, len(c.HS256Secret))
	case c.Issuer == "":
		return errors.New("config: AUTH_ISSUER is required")
	case c.Audience == "":
		return errors.New("config: AUTH_AUDIENCE is required")
	}
	if c.JWKSURL != "" {
		if err := checkJWKSURL(c.JWKSURL); err != nil {
			return fmt.Errorf("config: AUTH_JWKS_URL %w", err)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.JWKSRefresh <= 0 {
		c.JWKSRefresh = DefaultJWKSRefresh
	}
	if c.JWKSRefreshLimit <= 0 {
		c.JWKSRefreshLimit = DefaultJWKSRefreshLimit
	}
	if c.JWKSTimeout <= 0 {
		c.JWKSTimeout = DefaultJWKSTimeout
	}
	return c
}

// Disabled reports whether the verifier lets everything through (AUTH_DISABLED=true).
func (v *Verifier) Disabled() bool { return v.disabled }

// Verify checks raw (the token without "Bearer ") and returns its principal. The error says precisely
// why a token is refused, for the log; it is never meant for the client. Errors for which
// Unavailable(err) is true mean the token could not be checked yet, not that it is bad. While
// authentication is disabled every token, even none, yields the disabled principal.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if v.disabled {
		return disabledPrincipal(), nil
	}
	if raw == "" {
		return Principal{}, errors.New("verify token: empty")
	}
	if len(raw) > MaxTokenLen {
		return Principal{}, fmt.Errorf("verify token: longer than %d bytes", MaxTokenLen)
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(raw, claims, v.keyfunc(ctx)); err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	p, err := PrincipalFromClaims(claims)
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	return p, nil
}

// Unavailable reports whether err from Verify means the identity provider's keys have not been loaded
// yet, so the token could not be checked at all.
func Unavailable(err error) bool { return errors.Is(err, errNoKeys) }

// keyfunc picks the key for a token by its alg: the shared secret for HS256 and only for HS256; a key
// from the set, named by kid and of the type alg is defined for, for the public-key algorithms. The
// parser has already refused any alg outside the configured allow-list.
func (v *Verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: extensions marked critical must be understood; we understand none.
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New(`header "crit" is not supported`)
		}
		alg := t.Method.Alg()
		if alg == algHS256 {
			if len(v.secret) == 0 {
				return nil, errors.New("HS256 needs AUTH_HS256_SECRET")
			}
			return v.secret, nil
		}
		if v.keys == nil {
			return nil, fmt.Errorf("%s needs AUTH_JWKS_URL", alg)
		}
		switch kid := t.Header["kid"].(type) {
		case string:
			return v.keys.find(ctx, kid, alg)
		case nil:
			keys, err := v.keys.fitting(alg)
			if err != nil {
				return nil, err
			}
			return jwt.VerificationKeySet{Keys: keys}, nil
		default:
			return nil, fmt.Errorf("header kid is a %T, not a string", kid)
		}
	}
}

func disabledPrincipal() Principal {
	return Principal{Subject: DisabledSubject, Scopes: AllScopes()}
}

// DevToken signs an HS256 access token for p with cfg's secret, issuer and audience, valid for ttl from
// now: what tools/devtoken prints, and what tests of the services send. p.CustomerID 0 makes an
// operator token (no customer_id claim).
func DevToken(cfg Config, p Principal, ttl time.Duration) (string, error) {
	switch {
	case len(cfg.HS256Secret) < MinSecretLen:
		return "", fmt.Errorf("dev token: AUTH_HS256_SECRET must be at least %d bytes", MinSecretLen)
	case cfg.Issuer == "" || cfg.Audience == "":
		return "", errors.New("dev token: AUTH_ISSUER and AUTH_AUDIENCE are required")
	case p.Subject == "":
		return "", errors.New("dev token: subject is required")
	case p.CustomerID < 0:
		return "", fmt.Errorf("dev token: customer id must be positive, got %d", p.CustomerID)
	case ttl <= 0:
		return "", fmt.Errorf("dev token: ttl must be positive, got %s", ttl)
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": cfg.Issuer,
		"aud": cfg.Audience,
		"sub": p.Subject,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if len(p.Scopes) > 0 {
		claims["scope"] = strings.Join(p.Scopes, " ")
	}
	if p.CustomerID > 0 {
		claims["customer_id"] = p.CustomerID
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(cfg.HS256Secret))
	if err != nil {
		return "", fmt.Errorf("dev token: sign: %w", err)
	}
	return tok, nil
}

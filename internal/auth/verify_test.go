package auth_test

import (
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/b2b/backoffice/internal/auth"
)

// tokenCase is one Authorization header and what each verifier mode must make of it.
type tokenCase struct {
	name string
	// header builds the Authorization header; sign signs claims with the mode's own valid key.
	header func(sign func(jwt.MapClaims) string) string
	// want is the status per mode ("jwks", "hs256", "both"); a mode not listed does not run the case.
	want map[string]int
	// reason is part of the logged reason of a 401.
	reason string
	// customerID is the principal's customer of a 200.
	customerID int64
}

func all(status int) map[string]int {
	return map[string]int{"jwks": status, "hs256": status, "both": status}
}

func bearer(tok string) string { return "Bearer " + tok }

func TestTokenCases(t *testing.T) {
	rsaKey := newRSA(t, "rsa-1")
	ec256 := newEC(t, "ec-256", elliptic.P256(), jwt.SigningMethodES256)
	ec384 := newEC(t, "ec-384", elliptic.P384(), jwt.SigningMethodES384)
	ec521 := newEC(t, "ec-521", elliptic.P521(), jwt.SigningMethodES512)
	ed := newEd25519(t, "ed-1")
	provider := newIDP(t, rsaKey, ec256, ec384, ec521, ed)
	forger := newRSA(t, "rsa-1") // claims the provider's kid, signs with its own key
	stranger := newRSA(t, "rsa-unknown")

	// The provider's public RSA key in the encodings an attacker would try as an HMAC secret.
	pub := rsaKey.key.Public().(*rsa.PublicKey)
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkixPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})

	now := time.Now()
	ago := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	in := func(d time.Duration) int64 { return now.Add(d).Unix() }

	cases := []tokenCase{
		{name: "none", header: func(func(jwt.MapClaims) string) string { return "" }, want: all(401), reason: "no bearer token"},
		{name: "garbage", header: func(func(jwt.MapClaims) string) string { return "Bearer garbage" }, want: all(401), reason: "malformed"},
		{name: "three garbage segments", header: func(func(jwt.MapClaims) string) string { return "Bearer a.b.c" }, want: all(401), reason: "malformed"},
		{name: "basic scheme", header: func(s func(jwt.MapClaims) string) string { return "Basic " + s(claims()) }, want: all(401), reason: "no bearer token"},
		{name: "alg none", header: func(func(jwt.MapClaims) string) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			return bearer(tok)
		}, want: all(401), reason: "signing method none is invalid"},
		{name: "valid", header: func(s func(jwt.MapClaims) string) string { return bearer(s(claims())) }, want: all(200)},
		{name: "lowercase scheme", header: func(s func(jwt.MapClaims) string) string { return "bearer " + s(claims()) }, want: all(200)},
		{name: "expired 90s ago", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("iat", ago(time.Hour), "exp", ago(90*time.Second))))
		}, want: all(401), reason: "expired"},
		{name: "expired 30s ago, within leeway", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("iat", ago(time.Hour), "exp", ago(30*time.Second))))
		}, want: all(200)},
		{name: "nbf in 90s", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("nbf", in(90*time.Second))))
		}, want: all(401), reason: "not valid yet"},
		{name: "nbf in 30s, within leeway", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("nbf", in(30*time.Second))))
		}, want: all(200)},
		{name: "iat in 90s", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("iat", in(90*time.Second))))
		}, want: all(401), reason: "used before issued"},
		{name: "no exp", header: func(s func(jwt.MapClaims) string) string { return bearer(s(claims("exp", nil))) }, want: all(401), reason: "exp"},
		{name: "wrong iss", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("iss", "https://evil.test/")))
		}, want: all(401), reason: "invalid issuer"},
		{name: "no iss", header: func(s func(jwt.MapClaims) string) string { return bearer(s(claims("iss", nil))) }, want: all(401), reason: "iss"},
		{name: "wrong aud", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("aud", "other-api")))
		}, want: all(401), reason: "invalid audience"},
		{name: "aud list holding ours", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("aud", []string{"other-api", testAudience})))
		}, want: all(200)},
		{name: "no aud", header: func(s func(jwt.MapClaims) string) string { return bearer(s(claims("aud", nil))) }, want: all(401), reason: "aud"},
		{name: "tampered payload", header: func(s func(jwt.MapClaims) string) string {
			parts := strings.Split(s(claims("scope", "orders:read")), ".")
			body, _ := json.Marshal(claims("scope", "orders:read customers:write"))
			parts[1] = base64.RawURLEncoding.EncodeToString(body)
			return bearer(strings.Join(parts, "."))
		}, want: all(401), reason: "signature is invalid"},
		{name: "no sub", header: func(s func(jwt.MapClaims) string) string { return bearer(s(claims("sub", nil))) }, want: all(401), reason: "sub"},
		{name: "customer_id number", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("customer_id", 42)))
		}, want: all(200), customerID: 42},
		{name: "customer_id numeric string", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("customer_id", "9007199254740993")))
		}, want: all(200), customerID: 9007199254740993},
		{name: "customer_id zero", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("customer_id", 0)))
		}, want: all(401), reason: "customer_id"},
		{name: "customer_id negative", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("customer_id", "-3")))
		}, want: all(401), reason: "customer_id"},
		{name: "customer_id not a number", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("customer_id", "acme")))
		}, want: all(401), reason: "customer_id"},
		{name: "customer_id fraction", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("customer_id", 4.5)))
		}, want: all(401), reason: "customer_id"},
		{name: "customer_id bool", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("customer_id", true)))
		}, want: all(401), reason: "customer_id"},
		{name: "crit header", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.sign(t, claims(), "crit", []string{"exp"}))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "crit"},
		{name: "too long", header: func(s func(jwt.MapClaims) string) string {
			return bearer(s(claims("pad", strings.Repeat("x", auth.MaxTokenLen))))
		}, want: all(401), reason: "longer than"},
		{name: "HS384 with the secret", header: func(func(jwt.MapClaims) string) string {
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, claims()).SignedString([]byte(testSecret))
			return bearer(tok)
		}, want: all(401), reason: "signing method HS384 is invalid"},

		// Algorithm confusion: the provider's public key, which anyone can download, as an HMAC secret.
		{name: "HS256 keyed with the JWKS public key (PKIX PEM)", header: func(func(jwt.MapClaims) string) string {
			return bearer(signHS256(t, pkixPEM, claims(), "kid", "rsa-1"))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "signing method HS256 is invalid|signature is invalid"},
		{name: "HS256 keyed with the JWKS public key (PKCS1 PEM)", header: func(func(jwt.MapClaims) string) string {
			return bearer(signHS256(t, pkcs1PEM, claims(), "kid", "rsa-1"))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "signing method HS256 is invalid|signature is invalid"},
		{name: "HS256 keyed with the JWKS public key (DER)", header: func(func(jwt.MapClaims) string) string {
			return bearer(signHS256(t, pkix, claims(), "kid", "rsa-1"))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "signing method HS256 is invalid|signature is invalid"},

		// Keys from the set.
		{name: "unknown kid", header: func(func(jwt.MapClaims) string) string {
			return bearer(stranger.sign(t, claims()))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: `unknown kid "rsa-unknown"`},
		{name: "known kid, forged with another key", header: func(func(jwt.MapClaims) string) string {
			return bearer(forger.sign(t, claims()))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "signature is invalid"},
		{name: "RS384", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.as(jwt.SigningMethodRS384).sign(t, claims()))
		}, want: map[string]int{"jwks": 200, "both": 200}},
		{name: "RS512", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.as(jwt.SigningMethodRS512).sign(t, claims()))
		}, want: map[string]int{"jwks": 200, "both": 200}},
		{name: "PS256", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.as(jwt.SigningMethodPS256).sign(t, claims()))
		}, want: map[string]int{"jwks": 200, "both": 200}},
		{name: "PS384 is not on the allow-list", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.as(jwt.SigningMethodPS384).sign(t, claims()))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "signing method PS384 is invalid"},
		{name: "ES256", header: func(func(jwt.MapClaims) string) string {
			return bearer(ec256.sign(t, claims()))
		}, want: map[string]int{"jwks": 200, "both": 200}},
		{name: "ES384", header: func(func(jwt.MapClaims) string) string {
			return bearer(ec384.sign(t, claims()))
		}, want: map[string]int{"jwks": 200, "both": 200}},
		{name: "ES512 is not on the allow-list", header: func(func(jwt.MapClaims) string) string {
			return bearer(ec521.sign(t, claims()))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "signing method ES512 is invalid"},
		{name: "EdDSA", header: func(func(jwt.MapClaims) string) string {
			return bearer(ed.sign(t, claims()))
		}, want: map[string]int{"jwks": 200, "both": 200}},
		{name: "ES256 under the kid of the P-384 key", header: func(func(jwt.MapClaims) string) string {
			return bearer(ec256.sign(t, claims(), "kid", "ec-384"))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: `key "ec-384" does not fit alg ES256`},
		{name: "RS256 under the kid of an EC key", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.sign(t, claims(), "kid", "ec-256"))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: `key "ec-256" does not fit alg RS256`},
		{name: "no kid: the fitting keys are tried", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.sign(t, claims(), "kid", nil))
		}, want: map[string]int{"jwks": 200, "both": 200}},
		{name: "kid not a string", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.sign(t, claims(), "kid", 7))
		}, want: map[string]int{"jwks": 401, "both": 401}, reason: "kid"},

		// The shared secret.
		{name: "RS256 without a key set", header: func(func(jwt.MapClaims) string) string {
			return bearer(rsaKey.sign(t, claims()))
		}, want: map[string]int{"hs256": 401}, reason: "signing method RS256 is invalid"},
		{name: "HS256 with another secret", header: func(func(jwt.MapClaims) string) string {
			return bearer(signHS256(t, []byte(strings.Repeat("z", 40)), claims()))
		}, want: all(401), reason: "signature is invalid|signing method HS256 is invalid"},
		{name: "HS256 with the secret", header: func(func(jwt.MapClaims) string) string {
			return bearer(signHS256(t, []byte(testSecret), claims()))
		}, want: map[string]int{"hs256": 200, "both": 200, "jwks": 401}, reason: "signing method HS256 is invalid"},
	}

	both := jwksConfig(provider)
	both.HS256Secret = testSecret
	modes := []struct {
		name string
		cfg  auth.Config
		sign func(jwt.MapClaims) string
	}{
		{"jwks", jwksConfig(provider), func(c jwt.MapClaims) string { return rsaKey.sign(t, c) }},
		{"hs256", hsConfig(), func(c jwt.MapClaims) string { return signHS256(t, []byte(testSecret), c) }},
		{"both", both, func(c jwt.MapClaims) string { return ec256.sign(t, c) }},
	}
	for _, m := range modes {
		v := verifier(t, m.cfg, &logBuf{})
		for _, tc := range cases {
			want, ok := tc.want[m.name]
			if !ok {
				continue
			}
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				a := newAPI(t, v, &logBuf{})
				got := a.do(t, http.MethodGet, "/things", tc.header(m.sign))
				wantStatus(t, got, want)
				requests := a.log.lines(t, "request")
				if len(requests) != 1 {
					t.Fatalf("got %d request log lines, want 1", len(requests))
				}
				if want == http.StatusOK {
					if got.seen.Subject != "user-1" || got.seen.CustomerID != tc.customerID ||
						!slices.Equal(got.seen.Scopes, []string{auth.ScopeOrdersRead, auth.ScopeOrdersWrite}) {
						t.Fatalf("principal: got %+v, want user-1, customer %d, orders:read orders:write", got.seen, tc.customerID)
					}
					if requests[0]["sub"] != "user-1" {
						t.Fatalf("request log line: got sub %v, want user-1", requests[0]["sub"])
					}
					return
				}
				if a.handled.Load() != 0 {
					t.Fatal("a refused request reached the handler")
				}
				if got.message != "missing or invalid access token" || requests[0]["error_code"] != auth.CodeUnauthenticated {
					t.Fatalf("got message %q, log error_code %v; the reason must be logged, never answered", got.message, requests[0]["error_code"])
				}
				failures := a.log.lines(t, "authentication failed")
				if len(failures) != 1 {
					t.Fatalf("got %d 'authentication failed' lines, want 1:\n%s", len(failures), a.log.String())
				}
				reason, _ := failures[0]["reason"].(string)
				if !containsAny(reason, strings.Split(tc.reason, "|")) {
					t.Fatalf("logged reason %q, want it to say %q", reason, tc.reason)
				}
				if failures[0]["correlation_id"] == nil {
					t.Fatalf("the reason is logged without the request's correlation id: %v", failures[0])
				}
			})
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestVerifyDirectly(t *testing.T) {
	v := verifier(t, hsConfig(), &logBuf{})
	p, err := v.Verify(t.Context(), signHS256(t, []byte(testSecret), claims("sub", "ops@example.com", "scope", "reports:read  orders:read")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "ops@example.com" || !p.Operator() || !p.Has(auth.ScopeReportsRead) || !p.Has(auth.ScopeOrdersRead) || p.Has(auth.ScopeOrdersWrite) {
		t.Fatalf("got %+v", p)
	}
	if _, err := v.Verify(t.Context(), ""); err == nil || auth.Unavailable(err) {
		t.Fatalf("empty token: got %v, want a plain refusal", err)
	}
}

func TestNewRefusesUnusableConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"no key source", auth.Config{Issuer: testIssuer, Audience: testAudience}, "AUTH_JWKS_URL or AUTH_HS256_SECRET"},
		{"short secret", auth.Config{HS256Secret: "short", Issuer: testIssuer, Audience: testAudience}, "AUTH_HS256_SECRET must be at least 32 bytes"},
		{"no issuer", auth.Config{HS256Secret: testSecret, Audience: testAudience}, "AUTH_ISSUER is required"},
		{"no audience", auth.Config{HS256Secret: testSecret, Issuer: testIssuer}, "AUTH_AUDIENCE is required"},
		{"plain http to another host", auth.Config{JWKSURL: "http://idp.example.com/jwks", Issuer: testIssuer, Audience: testAudience}, "AUTH_JWKS_URL must use https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.New(t.Context(), tc.cfg, jsonLogger(&logBuf{}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestDevToken(t *testing.T) {
	cfg := hsConfig()
	v := verifier(t, cfg, &logBuf{})
	tok, err := auth.DevToken(cfg, auth.Principal{Subject: "dev", CustomerID: 3, Scopes: []string{auth.ScopeOrdersRead}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "dev" || p.CustomerID != 3 || !slices.Equal(p.Scopes, []string{auth.ScopeOrdersRead}) {
		t.Fatalf("got %+v", p)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	if exp, _ := claims.GetExpirationTime(); exp == nil || time.Until(exp.Time) > time.Minute || time.Until(exp.Time) < 50*time.Second {
		t.Fatalf("exp %v, want about a minute from now", exp)
	}

	for _, tc := range []struct {
		name string
		cfg  auth.Config
		p    auth.Principal
		ttl  time.Duration
	}{
		{"no secret", auth.Config{Issuer: testIssuer, Audience: testAudience}, auth.Principal{Subject: "s"}, time.Minute},
		{"no issuer", auth.Config{HS256Secret: testSecret, Audience: testAudience}, auth.Principal{Subject: "s"}, time.Minute},
		{"no subject", cfg, auth.Principal{}, time.Minute},
		{"negative customer", cfg, auth.Principal{Subject: "s", CustomerID: -1}, time.Minute},
		{"no ttl", cfg, auth.Principal{Subject: "s"}, 0},
	} {
		if _, err := auth.DevToken(tc.cfg, tc.p, tc.ttl); err == nil {
			t.Errorf("%s: got no error", tc.name)
		}
	}
}

package auth_test

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/web"
)

// signer is a private key with the kid and alg it signs under.
type signer struct {
	kid    string
	method jwt.SigningMethod
	key    crypto.Signer
}

func newRSA(t *testing.T, kid string) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodRS256, key: k}
}

func newEC(t *testing.T, kid string, curve elliptic.Curve, method jwt.SigningMethod) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: method, key: k}
}

func newEd25519(t *testing.T, kid string) signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodEdDSA, key: k}
}

// as returns s signing with another method (RS384 with the same RSA key, ...).
func (s signer) as(m jwt.SigningMethod) signer { s.method = m; return s }

// sign returns a token of claims signed by s, with s's kid unless the header says otherwise.
func (s signer) sign(t *testing.T, claims jwt.MapClaims, header ...any) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, claims)
	if s.kid != "" {
		tok.Header["kid"] = s.kid
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == nil {
			delete(tok.Header, header[i].(string))
			continue
		}
		tok.Header[header[i].(string)] = header[i+1]
	}
	str, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return str
}

// signHS256 signs claims with secret under HS256.
func signHS256(t *testing.T, secret []byte, claims jwt.MapClaims, header ...any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	for i := 0; i+1 < len(header); i += 2 {
		tok.Header[header[i].(string)] = header[i+1]
	}
	str, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return str
}

// claims returns valid claims for sub, changed by kv (a nil value deletes the claim).
func claims(kv ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":   testIssuer,
		"aud":   testAudience,
		"sub":   "user-1",
		"iat":   now.Unix(),
		"exp":   now.Add(10 * time.Minute).Unix(),
		"scope": "orders:read orders:write",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// idp is an identity provider's JWKS endpoint: its key set can change and it can go down.
type idp struct {
	srv      *httptest.Server
	requests atomic.Int64
	down     atomic.Bool
	latency  atomic.Int64 // nanoseconds each answer takes
	mu       sync.Mutex
	keys     []jwkset.JWKMarshal
}

func newIDP(t *testing.T, keys ...signer) *idp {
	t.Helper()
	p := &idp{}
	p.set(t, keys...)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		time.Sleep(time.Duration(p.latency.Load()))
		if p.down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		body, _ := json.Marshal(jwkset.JWKSMarshal{Keys: p.keys})
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// set replaces the published keys by the public halves of keys.
func (p *idp) set(t *testing.T, keys ...signer) {
	t.Helper()
	var ms []jwkset.JWKMarshal
	for _, k := range keys {
		ms = append(ms, publicJWK(t, k.key.Public(), k.kid, ""))
	}
	p.setRaw(ms...)
}

func (p *idp) setRaw(keys ...jwkset.JWKMarshal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

func publicJWK(t *testing.T, key any, kid string, use jwkset.USE) jwkset.JWKMarshal {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: use}})
	if err != nil {
		t.Fatal(err)
	}
	return j.Marshal()
}

// logBuf collects JSON log lines; the key set's background refresh writes from its own goroutine.
type logBuf struct{ proctest.Buffer }

// lines returns the log lines whose msg is msg.
func (b *logBuf) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Bytes())
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// verifier builds a Verifier whose background work ends with the test.
func verifier(t *testing.T, cfg auth.Config, log *logBuf) *auth.Verifier {
	t.Helper()
	v, err := auth.New(t.Context(), cfg, jsonLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func hsConfig() auth.Config {
	return auth.Config{HS256Secret: testSecret, Issuer: testIssuer, Audience: testAudience}
}

func jwksConfig(p *idp) auth.Config {
	return auth.Config{JWKSURL: p.srv.URL + "/jwks", Issuer: testIssuer, Audience: testAudience,
		JWKSRefresh: time.Hour, JWKSRefreshLimit: time.Hour, JWKSTimeout: 2 * time.Second}
}

// seen is what the test routes answer: the principal the handler found in its context.
type seen struct {
	Subject    string   `json:"subject"`
	CustomerID int64    `json:"customer_id"`
	Scopes     []string `json:"scopes"`
}

// api serves GET /things (authenticated) and POST /orders (authenticated, orders:write) through the
// shared router and middleware, so log lines and error bodies are the real ones. handled counts the
// requests that reached a handler.
type api struct {
	srv     *httptest.Server
	log     *logBuf
	handled atomic.Int64
}

func newAPI(t *testing.T, v *auth.Verifier, log *logBuf) *api {
	t.Helper()
	a := &api{log: log}
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			a.handled.Add(1)
			p, ok := auth.FromContext(r.Context())
			if !ok {
				t.Errorf("handler reached without a principal")
			}
			web.Respond(w, status, seen{Subject: p.Subject, CustomerID: p.CustomerID, Scopes: p.Scopes})
		}
	}
	r := web.NewRouter(jsonLogger(log))
	r.Get("/health", func(w http.ResponseWriter, r *http.Request) { web.Respond(w, 200, map[string]string{"status": "ok"}) })
	r.Group(func(r chi.Router) {
		r.Use(auth.Authenticate(v))
		r.Get("/things", echo(http.StatusOK))
		r.With(auth.Require(auth.ScopeOrdersWrite)).Post("/orders", echo(http.StatusCreated))
	})
	a.srv = httptest.NewServer(r)
	t.Cleanup(a.srv.Close)
	return a
}

// answer is one response of the api.
type answer struct {
	status    int
	challenge string
	code      string
	message   string
	seen      seen
	header    http.Header
}

// do sends method path with the Authorization header auth ("" sends none).
func (a *api) do(t *testing.T, method, path, authorization string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, a.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		seen
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), code: body.Error.Code,
		message: body.Error.Message, seen: body.seen, header: resp.Header}
}

// bearer sends GET /things with token as a bearer token.
func (a *api) bearer(t *testing.T, token string) answer {
	t.Helper()
	return a.do(t, http.MethodGet, "/things", "Bearer "+token)
}

// wantStatus fails unless got has status want (with the challenge and code that go with it).
func wantStatus(t *testing.T, got answer, want int) {
	t.Helper()
	switch want {
	case http.StatusUnauthorized:
		if got.status != want || got.code != auth.CodeUnauthenticated || got.challenge != auth.ChallengeInvalidToken {
			t.Fatalf("got %d %q %q, want 401 %s with %s", got.status, got.code, got.challenge, auth.CodeUnauthenticated, auth.ChallengeInvalidToken)
		}
	default:
		if got.status != want {
			t.Fatalf("got %d %q %q, want %d", got.status, got.code, got.message, want)
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jsonLogger logs at debug level into b, as the services do (JSON).
func jsonLogger(b *logBuf) *slog.Logger { return logging.New(b, "test", "debug") }

package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/b2b/backoffice/internal/auth"
)

func TestKeyRotation(t *testing.T) {
	old, next := newRSA(t, "2024-key"), newRSA(t, "2025-key")
	provider := newIDP(t, old)
	cfg := jwksConfig(provider)
	cfg.JWKSRefreshLimit = 50 * time.Millisecond
	v := verifier(t, cfg, &logBuf{})
	a := newAPI(t, v, &logBuf{})

	wantStatus(t, a.bearer(t, old.sign(t, claims())), 200)
	if n := provider.requests.Load(); n != 1 {
		t.Fatalf("got %d key set fetches after start, want 1", n)
	}

	// The provider starts signing with a key the verifier has not seen: the first token with its kid
	// makes the verifier fetch the set once (once the rate limit allows) and then it is accepted.
	provider.set(t, old, next)
	time.Sleep(cfg.JWKSRefreshLimit) // the start fetch counts against the limit
	wantStatus(t, a.bearer(t, next.sign(t, claims())), 200)
	if n := provider.requests.Load(); n != 2 {
		t.Fatalf("got %d fetches, want 2: one at start and one for the new kid", n)
	}
	wantStatus(t, a.bearer(t, next.sign(t, claims())), 200)
	wantStatus(t, a.bearer(t, old.sign(t, claims())), 200)
	if n := provider.requests.Load(); n != 2 {
		t.Fatalf("got %d fetches, want still 2: known kids are served from the cache", n)
	}

	// The old key is withdrawn: cached until the next fetch, refused after it.
	provider.set(t, next)
	wantStatus(t, a.bearer(t, old.sign(t, claims())), 200)
	time.Sleep(cfg.JWKSRefreshLimit)
	wantStatus(t, a.bearer(t, newRSA(t, "made-up").sign(t, claims())), 401) // an unknown kid triggers the next fetch
	if n := provider.requests.Load(); n != 3 {
		t.Fatalf("got %d fetches, want 3", n)
	}
	wantStatus(t, a.bearer(t, old.sign(t, claims())), 401)
	if reason := a.log.lines(t, "authentication failed"); !strings.Contains(reason[len(reason)-1]["reason"].(string), `unknown kid "2024-key"`) {
		t.Fatalf("logged %v, want the withdrawn kid named unknown", reason[len(reason)-1])
	}
	wantStatus(t, a.bearer(t, next.sign(t, claims())), 200)
}

func TestConcurrentTokensWithANewKIDShareOneFetch(t *testing.T) {
	old, next := newRSA(t, "old"), newRSA(t, "next")
	provider := newIDP(t, old)
	cfg := jwksConfig(provider)
	cfg.JWKSRefreshLimit = 50 * time.Millisecond
	v := verifier(t, cfg, &logBuf{})
	a := newAPI(t, v, &logBuf{})
	tok := next.sign(t, claims())
	provider.set(t, old, next)
	provider.latency.Store(int64(200 * time.Millisecond)) // a slow provider: the requests overlap its fetch
	time.Sleep(cfg.JWKSRefreshLimit)

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got := a.bearer(t, tok); got.status != http.StatusOK {
				t.Errorf("token with the new kid during the fetch: got %d, want 200", got.status)
			}
		})
	}
	wg.Wait()
	if n := provider.requests.Load(); n != 2 {
		t.Fatalf("got %d fetches, want 2: the start and one for all 20 requests", n)
	}
}

func TestBackgroundRefreshDropsWithdrawnKeys(t *testing.T) {
	old, next := newRSA(t, "old"), newRSA(t, "next")
	provider := newIDP(t, old, next)
	cfg := jwksConfig(provider)
	cfg.JWKSRefresh = 50 * time.Millisecond
	log := &logBuf{}
	v := verifier(t, cfg, log)
	a := newAPI(t, v, &logBuf{})
	wantStatus(t, a.bearer(t, old.sign(t, claims())), 200)

	provider.set(t, next)
	// No request asks for a fetch here (the limit is an hour): only the background refresh can drop it.
	eventually(t, "the withdrawn key to be refused", func() bool {
		return a.bearer(t, old.sign(t, claims())).status == http.StatusUnauthorized
	})
	wantStatus(t, a.bearer(t, next.sign(t, claims())), 200)
	if n := len(log.lines(t, "jwks fetched")); n < 2 {
		t.Fatalf("got %d 'jwks fetched' lines, want the start fetch and background ones", n)
	}
}

func TestUnknownKIDRefreshIsRateLimited(t *testing.T) {
	known := newRSA(t, "known")
	provider := newIDP(t, known)
	forged := newRSA(t, "x")

	t.Run("the start fetch counts against the limit", func(t *testing.T) {
		provider.requests.Store(0)
		v := verifier(t, jwksConfig(provider), &logBuf{}) // limit: one hour
		a := newAPI(t, v, &logBuf{})
		for i := range 20 {
			tok := forged.sign(t, claims(), "kid", "made-up-"+strings.Repeat("x", i))
			wantStatus(t, a.bearer(t, tok), 401)
		}
		if n := provider.requests.Load(); n != 1 {
			t.Fatalf("got %d fetches for 20 unknown kids, want only the start fetch", n)
		}
		failures := a.log.lines(t, "authentication failed")
		if reason := failures[0]["reason"].(string); !strings.Contains(reason, "fetched less than 1h0m0s ago") {
			t.Fatalf("logged reason %q, want the rate limit named", reason)
		}
	})

	t.Run("one fetch per window, shared by concurrent requests", func(t *testing.T) {
		provider.requests.Store(0)
		cfg := jwksConfig(provider)
		cfg.JWKSRefreshLimit = 300 * time.Millisecond
		v := verifier(t, cfg, &logBuf{})
		a := newAPI(t, v, &logBuf{})
		// Signed beforehand, so the burst fits well inside one window.
		var burst []string
		for i := range 30 {
			burst = append(burst, forged.sign(t, claims(), "kid", "burst-"+strings.Repeat("x", i)))
		}
		later, nextWindow := forged.sign(t, claims(), "kid", "later"), forged.sign(t, claims(), "kid", "next-window")
		time.Sleep(cfg.JWKSRefreshLimit) // let the window of the start fetch pass

		var wg sync.WaitGroup
		for _, tok := range burst {
			wg.Go(func() {
				if got := a.bearer(t, tok); got.status != http.StatusUnauthorized {
					t.Errorf("unknown kid: got %d, want 401", got.status)
				}
			})
		}
		wg.Wait()
		if n := provider.requests.Load(); n != 2 {
			t.Fatalf("got %d fetches after 30 concurrent unknown kids, want 2 (start + one)", n)
		}
		wantStatus(t, a.bearer(t, later), 401)
		wantStatus(t, a.bearer(t, known.sign(t, claims())), 200)
		if n := provider.requests.Load(); n != 2 {
			t.Fatalf("got %d fetches, want still 2 within the window", n)
		}
		time.Sleep(cfg.JWKSRefreshLimit)
		wantStatus(t, a.bearer(t, nextWindow), 401)
		if n := provider.requests.Load(); n != 3 {
			t.Fatalf("got %d fetches, want 3 after the next window opened", n)
		}
	})
}

func TestProviderDownAtStart(t *testing.T) {
	key := newRSA(t, "k1")
	provider := newIDP(t, key)
	provider.down.Store(true)
	cfg := jwksConfig(provider)
	cfg.HS256Secret = testSecret
	cfg.JWKSRefreshLimit = 20 * time.Millisecond // the retry back-off starts here
	log := &logBuf{}

	start := time.Now()
	v := verifier(t, cfg, log)
	if d := time.Since(start); d > cfg.JWKSTimeout {
		t.Fatalf("New took %s with the provider down, want at most the fetch timeout %s", d, cfg.JWKSTimeout)
	}
	a := newAPI(t, v, &logBuf{})

	// No key yet: not the client's fault, so 503 with Retry-After, not 401.
	got := a.bearer(t, key.sign(t, claims()))
	if got.status != http.StatusServiceUnavailable || got.code != auth.CodeUnavailable || got.header.Get("Retry-After") == "" || got.challenge != "" {
		t.Fatalf("got %d %q Retry-After %q challenge %q, want 503 %s with Retry-After and no challenge",
			got.status, got.code, got.header.Get("Retry-After"), got.challenge, auth.CodeUnavailable)
	}
	// The shared secret does not depend on the provider.
	wantStatus(t, a.bearer(t, signHS256(t, []byte(testSecret), claims())), 200)
	// A bad token is still a bad token.
	wantStatus(t, a.do(t, http.MethodGet, "/things", ""), 401)

	eventually(t, "several failed fetches", func() bool { return provider.requests.Load() >= 4 })
	failed := log.lines(t, "jwks fetch failed; cached keys stay in use, retrying")
	if len(failed) != 1 || !strings.Contains(failed[0]["error"].(string), "status 503") || failed[0]["level"] != "ERROR" {
		t.Fatalf("got %v, want exactly one ERROR line for the outage, naming status 503", failed)
	}

	provider.down.Store(false)
	eventually(t, "the token to be accepted once the provider is back", func() bool {
		return a.bearer(t, key.sign(t, claims())).status == http.StatusOK
	})
	if back := log.lines(t, "jwks fetch works again"); len(back) != 1 || back[0]["keys"] != float64(1) {
		t.Fatalf("got %v, want one line saying the fetch works again with 1 key", back)
	}
}

func TestProviderHangsAtStart(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // runs first, so Close does not wait for the handler
	cfg := auth.Config{JWKSURL: hung.URL, Issuer: testIssuer, Audience: testAudience, JWKSTimeout: 200 * time.Millisecond}
	log := &logBuf{}
	start := time.Now()
	verifier(t, cfg, log)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("New took %s against a provider that never answers, want about the timeout (%s)", d, cfg.JWKSTimeout)
	}
	if failed := log.lines(t, "jwks fetch failed; cached keys stay in use, retrying"); len(failed) != 1 {
		t.Fatalf("got %d failure lines, want 1:\n%s", len(failed), log)
	}
}

func TestProviderDownMidRun(t *testing.T) {
	key := newRSA(t, "k1")
	provider := newIDP(t, key)
	cfg := jwksConfig(provider)
	cfg.JWKSRefresh = 20 * time.Millisecond
	cfg.JWKSRefreshLimit = 20 * time.Millisecond
	log := &logBuf{}
	v := verifier(t, cfg, log)
	a := newAPI(t, v, &logBuf{})
	wantStatus(t, a.bearer(t, key.sign(t, claims())), 200)

	provider.down.Store(true)
	before := provider.requests.Load()
	eventually(t, "several failed background fetches", func() bool { return provider.requests.Load() >= before+4 })
	// The cached key keeps working through the outage.
	wantStatus(t, a.bearer(t, key.sign(t, claims())), 200)
	failed := log.lines(t, "jwks fetch failed; cached keys stay in use, retrying")
	if len(failed) != 1 || failed[0]["cached_keys"] != float64(1) {
		t.Fatalf("got %v, want exactly one line for the outage, with 1 cached key", failed)
	}
	if again := log.lines(t, "jwks fetch failed again"); len(again) < 2 || again[0]["level"] != "DEBUG" {
		t.Fatalf("got %v, want the repeated failures at debug level only", again)
	}

	provider.down.Store(false)
	eventually(t, "the recovery to be logged", func() bool { return len(log.lines(t, "jwks fetch works again")) == 1 })
	wantStatus(t, a.bearer(t, key.sign(t, claims())), 200)
}

func TestKeySetKeepsOnlySignatureKeys(t *testing.T) {
	good := newRSA(t, "sig-key")
	encKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	symmetric := []byte(strings.Repeat("k", 32))
	oct := jwkset.JWKMarshal{KTY: jwkset.KtyOct, KID: "oct-key", K: base64.RawURLEncoding.EncodeToString(symmetric)}
	provider := newIDP(t)
	provider.setRaw(
		publicJWK(t, good.key.Public(), "sig-key", jwkset.UseSig),
		publicJWK(t, &encKey.PublicKey, "enc-key", jwkset.UseEnc),
		oct,
	)
	log := &logBuf{}
	v := verifier(t, jwksConfig(provider), log)
	a := newAPI(t, v, &logBuf{})

	wantStatus(t, a.bearer(t, good.sign(t, claims())), 200)
	// A symmetric key published in a set is never an HMAC secret, and an encryption key never verifies.
	wantStatus(t, a.bearer(t, signHS256(t, symmetric, claims(), "kid", "oct-key")), 401)
	wantStatus(t, a.bearer(t, signer{kid: "enc-key", method: good.method, key: encKey}.sign(t, claims())), 401)
	if skipped := log.lines(t, "jwks key skipped"); len(skipped) != 2 {
		t.Fatalf("got %v, want the enc and oct keys reported as skipped", skipped)
	}

	// A set with nothing usable is a failed fetch: the keys in use stay.
	cfg := jwksConfig(provider)
	cfg.JWKSRefresh = 20 * time.Millisecond
	log2 := &logBuf{}
	v2 := verifier(t, cfg, log2)
	a2 := newAPI(t, v2, &logBuf{})
	provider.setRaw(oct)
	eventually(t, "the empty set to be refused", func() bool {
		return len(log2.lines(t, "jwks fetch failed; cached keys stay in use, retrying")) == 1
	})
	wantStatus(t, a2.bearer(t, good.sign(t, claims())), 200)
}

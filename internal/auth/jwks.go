package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// maxJWKSBytes bounds a key set response; real ones are a few KiB.
const maxJWKSBytes = 1 << 20

// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A, and what every provider uses).
const minRSABits = 2048

// errNoKeys says the key set has never been loaded: the provider has not answered since start. Verify
// reports it as unavailable rather than as a bad token.
const errNoKeys = constError("no keys from the identity provider yet")

// constError is an error that can be a constant, so sentinels need no package variables.
type constError string

func (e constError) Error() string { return string(e) }

// publicKey is one verification key of the set, as parsed and checked by jwkset.
type publicKey struct {
	kid string
	alg string // the JWK's alg, "" when the provider does not restrict the key
	key crypto.PublicKey
}

// fits reports whether k may verify a token signed with alg: the JWK's own alg (when it has one) must
// match, and the key type and size must be the ones alg is defined for. This is the allow-list that
// keeps, say, an ES256 token from being checked against a P-384 key.
func (k publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		pub, ok := k.key.(*rsa.PublicKey)
		return ok && pub.N.BitLen() >= minRSABits
	case "ES256":
		pub, ok := k.key.(*ecdsa.PublicKey)
		return ok && pub.Curve == elliptic.P256()
	case "ES384":
		pub, ok := k.key.(*ecdsa.PublicKey)
		return ok && pub.Curve == elliptic.P384()
	case "EdDSA":
		_, ok := k.key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// keySet is the identity provider's public keys: fetched at start, refreshed in the background, and
// fetched again (at most once per refreshLimit) when a token names a kid the set does not hold.
type keySet struct {
	url          string
	client       *http.Client
	log          *slog.Logger
	refreshEvery time.Duration
	refreshLimit time.Duration
	timeout      time.Duration
	// base is the lifetime of the set: fetches run under it rather than under the request that asked for
	// them, because other requests may be waiting for the same fetch.
	base context.Context

	keys atomic.Pointer[[]publicKey] // nil until the first successful fetch

	mu        sync.Mutex
	lastFetch time.Time     // start of the last fetch, whoever asked for it
	inflight  chan struct{} // closed when the running fetch ends; nil when none runs
	downSince time.Time     // zero while the provider answers; set at the first failure of an outage
	lastErr   error         // why the last fetch failed (reported to requests while no keys are loaded)
}

func newKeySet(ctx context.Context, cfg Config, log *slog.Logger) *keySet {
	return &keySet{
		url:          cfg.JWKSURL,
		client:       &http.Client{Timeout: cfg.JWKSTimeout},
		log:          log,
		refreshEvery: cfg.JWKSRefresh,
		refreshLimit: cfg.JWKSRefreshLimit,
		timeout:      cfg.JWKSTimeout,
		base:         context.WithoutCancel(ctx),
	}
}

// run refreshes the set until ctx ends: every refreshEvery while the provider answers; after a failure
// sooner, backing off from refreshLimit, so a provider that was down at start is picked up quickly
// without being hammered.
func (s *keySet) run(ctx context.Context) {
	retry := s.refreshLimit
	for {
		wait := s.refreshEvery
		if s.down() {
			wait = min(retry, s.refreshEvery)
			retry = min(retry*2, s.refreshEvery)
		} else {
			retry = s.refreshLimit
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.refresh(ctx, false)
	}
}

func (s *keySet) down() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.downSince.IsZero()
}

// find returns the key named kid that fits alg, fetching the set once more when kid is unknown and
// the rate limit allows.
func (s *keySet) find(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	if k, found, err := s.lookup(kid, alg); found || err != nil {
		return k, err
	}
	if !s.refresh(ctx, true) {
		if s.keys.Load() == nil {
			return nil, s.noKeys()
		}
		return nil, fmt.Errorf("unknown kid %q (key set fetched less than %s ago)", kid, s.refreshLimit)
	}
	if k, found, err := s.lookup(kid, alg); found || err != nil {
		return k, err
	}
	if s.keys.Load() == nil {
		return nil, s.noKeys()
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// lookup searches the loaded keys: found is true when kid is in the set; err says why it cannot be used.
func (s *keySet) lookup(kid, alg string) (key crypto.PublicKey, found bool, err error) {
	keys := s.keys.Load()
	if keys == nil {
		return nil, false, nil
	}
	for _, k := range *keys {
		if k.kid != kid {
			continue
		}
		found = true
		if k.fits(alg) {
			return k.key, true, nil
		}
	}
	if found {
		return nil, true, fmt.Errorf("key %q does not fit alg %s", kid, alg)
	}
	return nil, false, nil
}

// fitting returns every loaded key that fits alg, for a token without a kid.
func (s *keySet) fitting(alg string) ([]jwt.VerificationKey, error) {
	keys := s.keys.Load()
	if keys == nil {
		return nil, s.noKeys()
	}
	var out []jwt.VerificationKey
	for _, k := range *keys {
		if k.fits(alg) {
			out = append(out, k.key)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no key in the set fits alg %s", alg)
	}
	return out, nil
}

func (s *keySet) noKeys() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil {
		return fmt.Errorf("%w: %v", errNoKeys, s.lastErr)
	}
	return errNoKeys
}

// refresh fetches the set unless one was fetched less than refreshLimit ago (when limited) and reports
// whether a fetch ran and ended while the caller waited. A caller that finds a fetch already running
// waits for that one instead of starting its own, so concurrent tokens with a new kid cost one request.
func (s *keySet) refresh(ctx context.Context, limited bool) bool {
	s.mu.Lock()
	if ch := s.inflight; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if limited && !s.lastFetch.IsZero() && time.Since(s.lastFetch) < s.refreshLimit {
		s.mu.Unlock()
		return false
	}
	ch := make(chan struct{})
	s.inflight, s.lastFetch = ch, time.Now()
	s.mu.Unlock()

	fctx, cancel := context.WithTimeout(s.base, s.timeout)
	keys, skipped, err := s.fetch(fctx)
	cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = nil
	close(ch)
	if err != nil {
		s.lastErr = err
		// One line per outage: a provider that is down for an hour must not fill the log.
		if s.downSince.IsZero() {
			s.downSince = time.Now()
			s.log.Error("jwks fetch failed; cached keys stay in use, retrying", "url", s.url, "error", err.Error(),
				"cached_keys", s.count())
		} else {
			s.log.Debug("jwks fetch failed again", "url", s.url, "error", err.Error())
		}
		return true
	}
	s.keys.Store(&keys)
	s.lastErr = nil
	if !s.downSince.IsZero() {
		s.log.Info("jwks fetch works again", "url", s.url, "keys", len(keys),
			"outage_seconds", int(time.Since(s.downSince).Seconds()))
		s.downSince = time.Time{}
	}
	for _, msg := range skipped {
		s.log.Warn("jwks key skipped", "url", s.url, "reason", msg)
	}
	s.log.Debug("jwks fetched", "url", s.url, "keys", len(keys))
	return true
}

func (s *keySet) count() int {
	if keys := s.keys.Load(); keys != nil {
		return len(*keys)
	}
	return 0
}

// fetch downloads and parses the set. Keys that cannot verify signatures (encryption keys, symmetric
// keys, unsupported types) are skipped and named in skipped; a set with no usable key at all is an
// error, so a misbehaving endpoint cannot wipe the keys in use.
func (s *keySet) fetch(ctx context.Context) (keys []publicKey, skipped []string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	var set jwkset.JWKSMarshal
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, nil, fmt.Errorf("fetch jwks: decode: %w", err)
	}
	for i, m := range set.Keys {
		k, err := parseJWK(m)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, m.KID, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("fetch jwks: no usable signature key among %d", len(set.Keys))
	}
	return keys, skipped, nil
}

// parseJWK turns one JWK into a public verification key, leaving private parameters aside.
func parseJWK(m jwkset.JWKMarshal) (publicKey, error) {
	if m.USE != "" && m.USE != jwkset.UseSig {
		return publicKey{}, fmt.Errorf("use %q is not sig", m.USE)
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return publicKey{}, errors.New("key_ops lacks verify")
	}
	if m.KTY == jwkset.KtyOct {
		return publicKey{}, errors.New("symmetric keys are never taken from a key set")
	}
	j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: false}, jwkset.JWKValidateOptions{})
	if err != nil {
		return publicKey{}, err
	}
	k := publicKey{kid: m.KID, alg: string(m.ALG), key: j.Key()}
	switch k.key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k, nil
	default:
		return publicKey{}, fmt.Errorf("key type %T cannot verify signatures", k.key)
	}
}

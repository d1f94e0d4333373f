// Package auth verifies the bearer access tokens of the public routes and says who the caller is:
// a Verifier checks a JWT against the identity provider's key set (AUTH_JWKS_URL) or the local shared
// secret (AUTH_HS256_SECRET), Authenticate and Require guard chi routes, and the Principal in the
// request context carries the subject, the customer a token is bound to, and the granted scopes.
//
// Libraries. Signatures and registered claims (exp, nbf, iat with leeway, iss, aud) are checked by
// github.com/golang-jwt/jwt/v5, and JWKs are parsed and validated (RSA modulus, EC point on curve,
// Ed25519 size) by github.com/MicahParks/jwkset: three modules in go.sum with golang.org/x/time.
// github.com/lestrrat-go/jwx/v3 would do the same and more, but adds eleven (httprc, its own JSON
// codecs, assembly helpers, secp256k1) for features we do not use.
//
// The key set's fetching is ours, not jwkset's HTTP storage, for three reasons: that storage makes a
// request with an unknown kid wait for its rate limiter instead of failing fast, it has no signal for
// a fetch that works again (needed to log an outage once, not once per retry), and it cannot tell a
// set never loaded (answer 503) from a kid that is not in it (answer 401). Fetching is plain HTTP and
// a timer; everything cryptographic stays in the two libraries.
package auth

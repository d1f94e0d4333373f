// Package auth verifies the bearer access tokens of the public routes and says who the caller is:
// a Verifier checks a JWT against the identity provider's key set (AUTH_JWKS_URL) or the local shared
// secret (AUTH_HS256_SECRET), Authenticate and Require guard chi routes, and the Principal in the
// request context carries the subject, the customer a token is bound to, and the granted scopes.
package auth

package auth

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
)

// The error codes of the answers Authenticate and Require give.
const (
	// CodeUnauthenticated (401): no token, or one that is not acceptable.
	CodeUnauthenticated = "UNAUTHENTICATED"
	// CodeForbidden (403): a valid token without the scope the operation needs.
	CodeForbidden = "FORBIDDEN"
	// CodeUnavailable (503): the identity provider's keys have not been loaded yet.
	CodeUnavailable = "AUTH_UNAVAILABLE"
)

// ChallengeInvalidToken is the WWW-Authenticate of every 401 (RFC 6750 §3). RFC 6750 suggests no error
// code for a request without any token; the API answers every 401 alike, so clients need one rule.
const ChallengeInvalidToken = `Bearer error="invalid_token"`

// Authenticate returns middleware that admits only requests with a valid "Authorization: Bearer"
// access token: it puts the Principal in the request context and the subject (and customer_id, for a
// customer-bound token) on the request's log line. Anything else gets 401 UNAUTHENTICATED with
// ChallengeInvalidToken; why is logged, never answered. While the provider's keys have not been loaded,
// 503 AUTH_UNAVAILABLE (with Retry-After) tells clients to retry rather than to re-authenticate.
// With authentication disabled every request passes as DisabledSubject with every scope, and each
// logs a warning.
func Authenticate(v *Verifier) func(http.Handler) http.Handler {
	if v == nil {
		panic("auth.Authenticate: nil Verifier")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if v.disabled {
				logging.FromContext(ctx).Warn("authentication is disabled (AUTH_DISABLED=true): request not authenticated")
				p := disabledPrincipal()
				web.Annotate(ctx, "sub", p.Subject)
				next.ServeHTTP(w, r.WithContext(WithPrincipal(ctx, p)))
				return
			}
			var p Principal
			raw, ok := web.BearerToken(r)
			err := errors.New("no bearer token in the Authorization header")
			if ok {
				p, err = v.Verify(ctx, raw)
			}
			if err != nil {
				if Unavailable(err) {
					// web.Error logs the cause of a 5xx, once.
					web.Error(w, r, apperr.Unavailable(CodeUnavailable, "access tokens cannot be verified right now; retry shortly").Wrap(err))
					return
				}
				logging.FromContext(ctx).Info("authentication failed", "reason", err.Error())
				w.Header().Set("WWW-Authenticate", ChallengeInvalidToken)
				web.Error(w, r, unauthenticated())
				return
			}
			web.Annotate(ctx, "sub", p.Subject)
			if p.CustomerID != 0 {
				web.Annotate(ctx, "customer_id", p.CustomerID)
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(ctx, p)))
		})
	}
}

// Require returns middleware that admits only principals granted scope; others get 403 FORBIDDEN with
// `WWW-Authenticate: Bearer error="insufficient_scope", scope="<scope>"` (RFC 6750 §3.1). It belongs
// behind Authenticate; without a principal in the context it answers 401, failing closed.
func Require(scope string) func(http.Handler) http.Handler {
	if !validScope(scope) {
		panic(fmt.Sprintf("auth.Require: invalid scope %q", scope))
	}
	challenge := fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, scope)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				logging.FromContext(r.Context()).Error("auth.Require without a principal: is Authenticate missing in front?", "scope", scope)
				w.Header().Set("WWW-Authenticate", ChallengeInvalidToken)
				web.Error(w, r, unauthenticated())
				return
			}
			if !p.Has(scope) {
				w.Header().Set("WWW-Authenticate", challenge)
				web.Error(w, r, apperr.Forbidden(CodeForbidden, fmt.Sprintf("the access token lacks scope %s", scope)))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func unauthenticated() *apperr.Error {
	return apperr.Unauthorized(CodeUnauthenticated, "missing or invalid access token")
}

// validScope reports whether s is a scope-token of RFC 6749 §3.3, which also makes it safe inside the
// quoted string of a challenge.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

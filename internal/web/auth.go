package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/b2b/backoffice/internal/apperr"
)

// BearerToken returns the token of an "Authorization: Bearer <token>" header. The scheme is matched
// case-insensitively (RFC 9110 §11.1: "bearer" and "BEARER" are the same scheme); ok is false when the
// header is missing, names another scheme or carries no token.
func BearerToken(r *http.Request) (token string, ok bool) {
	scheme, rest, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	// RFC 9110 allows one or more spaces after the scheme; a token68 itself holds none.
	token = strings.TrimLeft(rest, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// ServiceToken guards internal routes: the request must carry "Authorization: Bearer <token>".
// Digests are compared in constant time, so neither the content nor the length of the token leaks.
func ServiceToken(token string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := BearerToken(r)
			sum := sha256.Sum256([]byte(got))
			if !ok || token == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", "Bearer")
				Error(w, r, apperr.ErrUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/b2b/backoffice/internal/apperr"
)

// ServiceToken guards internal routes: the request must carry "Authorization: Bearer <token>".
// Digests are compared in constant time, so neither the content nor the length of the token leaks.
func ServiceToken(token string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
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

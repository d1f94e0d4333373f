package web

import (
	"context"
	"net/http"
	"time"

	"github.com/b2b/backoffice/internal/logging"
)

// Check is one dependency check of /health.
type Check func(ctx context.Context) error

// Health answers GET /health: 200 when every check passes, 503 naming the failing ones otherwise.
func Health(service string, checks map[string]Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		res := map[string]string{}
		status, code := "ok", http.StatusOK
		for name, check := range checks {
			if err := check(ctx); err != nil {
				logging.FromContext(ctx).Warn("health check failed", "check", name, "error", err.Error())
				res[name] = "down"
				status, code = "degraded", http.StatusServiceUnavailable
				continue
			}
			res[name] = "ok"
		}
		Respond(w, code, map[string]any{"status": status, "service": service, "checks": res})
	}
}

// Package reportapi is the HTTP surface of reporting: routes and handlers that translate requests to
// report use cases and results to the wire shapes of openapi.yaml (JSON, and CSV for spreadsheets).
package reportapi

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/reporting/internal/report"
)

// Service is the name reporting gives in /health and in its logs.
const Service = "reporting"

// HeaderAsOf carries the freshness of every report: the time of the newest event applied when it was
// computed. It is absent before the first event.
const HeaderAsOf = "X-Data-As-Of"

// Routes returns the whole HTTP surface of reporting: the reports need an access token verified by v
// with the scope named beside each. dbCheck backs /health; spec is served as /openapi.yaml.
func Routes(log *slog.Logger, svc *report.Service, v *auth.Verifier, dbCheck web.Check, spec []byte) http.Handler {
	h, r := handler{svc: svc}, web.NewRouter(log)
	r.Group(func(r chi.Router) {
		r.Use(auth.Authenticate(v))
		r.With(auth.Require(auth.ScopeReportsRead)).Get("/reports/daily-sales", h.dailySales)
		r.With(auth.Require(auth.ScopeReportsRead)).Get("/reports/daily-sales.csv", h.dailySalesCSV)
		r.With(auth.Require(auth.ScopeReportsRead)).Get("/reports/top-products", h.topProducts)
		r.With(auth.Require(auth.ScopeReportsRead)).Get("/reports/customers/{id}", h.customer)
	})
	r.Get("/health", web.Health(Service, map[string]web.Check{"db": dbCheck}))
	r.Get("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(spec)
	})
	return r
}

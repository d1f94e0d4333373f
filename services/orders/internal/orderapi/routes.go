// Package orderapi is the HTTP surface of orders-api: routes and handlers that translate HTTP to and
// from the order service's use cases.
package orderapi

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Header names of the idempotency protocol.
const (
	HeaderIdempotencyKey        = "Idempotency-Key"   // optional on POST /orders
	HeaderConfirmIdempotencyKey = "X-Idempotency-Key" // required on POST /orders/{id}/confirm
	HeaderReplayed              = "Idempotent-Replayed"
)

// Routes returns the whole HTTP surface of orders-api: the public routes need an access token verified
// by v with the scope named beside each, /internal/... the service token. checks are the /health
// dependency checks.
func Routes(log *slog.Logger, svc *order.Service, token string, v *auth.Verifier, checks map[string]web.Check) http.Handler {
	h, r := handler{svc: svc}, web.NewRouter(log)
	r.Get("/health", web.Health("orders-api", checks))
	r.Get("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(orders.OpenAPI)
	})

	r.Group(func(r chi.Router) {
		r.Use(auth.Authenticate(v))
		r.With(auth.Require(auth.ScopeProductsWrite)).Post("/products", h.createProduct)
		r.With(auth.Require(auth.ScopeProductsRead)).Get("/products", h.listProducts)
		r.With(auth.Require(auth.ScopeProductsRead)).Get("/products/{id}", h.getProduct)
		r.With(auth.Require(auth.ScopeProductsWrite)).Patch("/products/{id}", h.patchProduct)

		r.With(auth.Require(auth.ScopeOrdersWrite)).Post("/orders", h.createOrder)
		r.With(auth.Require(auth.ScopeOrdersRead)).Get("/orders", h.listOrders)
		r.With(auth.Require(auth.ScopeOrdersRead)).Get("/orders/{id}", h.getOrder)
		r.With(auth.Require(auth.ScopeOrdersWrite)).Post("/orders/{id}/confirm", h.confirm)
		r.With(auth.Require(auth.ScopeOrdersWrite)).Post("/orders/{id}/cancel", h.cancel)
	})

	r.With(web.ServiceToken(token)).Get("/internal/order-requests/{key}", h.orderRequest)
	return r
}

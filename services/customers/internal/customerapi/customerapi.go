// Package customerapi is the HTTP surface of customers-api: it translates requests to customer use cases
// and results to the JSON contract in openapi.yaml.
package customerapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/customers/internal/customer"
)

// Service is the name customers-api reports in /health and in its logs.
const Service = "customers-api"

// Routes returns the whole HTTP surface of customers-api: the public routes need an access token
// verified by v with the scope named beside each, /internal/... the service token. dbCheck backs
// /health; spec is served as /openapi.yaml.
func Routes(log *slog.Logger, svc *customer.Service, token string, v *auth.Verifier, dbCheck web.Check, spec []byte) http.Handler {
	h, r := handler{svc: svc}, web.NewRouter(log)
	r.Group(func(r chi.Router) {
		r.Use(auth.Authenticate(v))
		r.With(auth.Require(auth.ScopeCustomersWrite)).Post("/customers", h.create)
		r.With(auth.Require(auth.ScopeCustomersRead)).Get("/customers", h.list)
		r.With(auth.Require(auth.ScopeCustomersRead)).Get("/customers/{id}", h.get)
		r.With(auth.Require(auth.ScopeCustomersWrite)).Put("/customers/{id}", h.update)
		r.With(auth.Require(auth.ScopeCustomersWrite)).Delete("/customers/{id}", h.delete)
	})
	r.With(web.ServiceToken(token)).Get("/internal/customers/{id}", h.getInternal)
	r.Get("/health", web.Health(Service, map[string]web.Check{"db": dbCheck}))
	r.Get("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(spec)
	})
	return r
}

// Customer is the wire shape of a customer.
type Customer struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Phone     *string   `json:"phone"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toWire(c customer.Customer) Customer {
	return Customer{ID: c.ID, Name: c.Name, Email: c.Email, Phone: c.Phone, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

// CreateRequest is the body of POST /customers.
type CreateRequest struct {
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

// UpdateRequest is the body of PUT /customers/{id}: only the fields present change, and "phone": null
// clears the phone.
type UpdateRequest struct {
	Name  Optional `json:"name"`
	Email Optional `json:"email"`
	Phone Optional `json:"phone"`
}

// Optional is a JSON string field that tells "absent" from null from a value.
type Optional struct {
	Set   bool
	Null  bool
	Value string
}

// UnmarshalJSON records that the field was present, and whether it was null.
func (o *Optional) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(b, []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

type handler struct {
	svc *customer.Service
}

func (h handler) create(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	var req CreateRequest
	if err := web.Decode(w, r, &req); err != nil {
		web.Error(w, r, err)
		return
	}
	c, err := h.svc.Create(r.Context(), who, customer.New{Name: req.Name, Email: req.Email, Phone: req.Phone})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/customers/"+strconv.FormatInt(c.ID, 10))
	web.Respond(w, http.StatusCreated, toWire(c))
}

func (h handler) get(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.read(w, r, who)
}

// getInternal is the read of other services, authenticated by the service token: a service sees every
// customer.
func (h handler) getInternal(w http.ResponseWriter, r *http.Request) {
	h.read(w, r, identity.Caller{})
}

func (h handler) read(w http.ResponseWriter, r *http.Request, who identity.Caller) {
	id, err := web.IDParam(r, "id")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	c, err := h.svc.Get(r.Context(), who, id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, toWire(c))
}

func (h handler) list(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	page, err := web.ParsePage(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	rows, err := h.svc.List(r.Context(), who, customer.Query{Search: r.URL.Query().Get("search"), AfterID: page.AfterID, Limit: page.Limit})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	out := make([]Customer, len(rows))
	for i, c := range rows {
		out[i] = toWire(c)
	}
	web.Respond(w, http.StatusOK, web.NewList(out, page.Limit, func(c Customer) int64 { return c.ID }))
}

func (h handler) update(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	id, err := web.IDParam(r, "id")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	var req UpdateRequest
	if err := web.Decode(w, r, &req); err != nil {
		web.Error(w, r, err)
		return
	}
	var (
		p    customer.Patch
		errs []apperr.FieldError
	)
	for _, f := range []struct {
		name string
		in   Optional
		out  **string
	}{{"name", req.Name, &p.Name}, {"email", req.Email, &p.Email}} {
		switch {
		case f.in.Null:
			errs = append(errs, apperr.FieldError{Field: f.name, Message: "must not be null"})
		case f.in.Set:
			v := f.in.Value
			*f.out = &v
		}
	}
	if len(errs) > 0 {
		web.Error(w, r, apperr.Validation(errs...))
		return
	}
	if req.Phone.Set {
		p.PhoneSet = true
		if !req.Phone.Null {
			p.Phone = &req.Phone.Value
		}
	}
	c, err := h.svc.Update(r.Context(), who, id, p)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Respond(w, http.StatusOK, toWire(c))
}

func (h handler) delete(w http.ResponseWriter, r *http.Request) {
	who, err := auth.Caller(r.Context())
	if err != nil {
		web.Error(w, r, err)
		return
	}
	id, err := web.IDParam(r, "id")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if err := h.svc.Delete(r.Context(), who, id); err != nil {
		web.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

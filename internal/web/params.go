package web

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/b2b/backoffice/internal/apperr"
)

// IDParam returns the positive integer URL parameter name; anything else is 400 VALIDATION_FAILED.
func IDParam(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Validation(apperr.FieldError{Field: name, Message: "must be a positive integer"})
	}
	return id, nil
}

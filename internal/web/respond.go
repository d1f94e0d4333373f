// Package web holds the HTTP platform shared by every service: JSON responses and the one mapping from
// application errors to statuses, request decoding, middleware, cursors, auth, health and the server loop.
package web

import (
	"encoding/json"
	"net/http"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
)

// Respond writes v as JSON with status.
func Respond(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"code":"INTERNAL","message":"internal error"}}`))
		return
	}
	RespondRaw(w, status, body)
}

// RespondRaw writes an already encoded JSON body with status.
func RespondRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ErrorBody is the wire shape of every error response.
type ErrorBody struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject is the inside of ErrorBody.
type ErrorObject struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details,omitempty"`
}

// Status returns the HTTP status for err: the only place that maps error kinds to statuses.
func Status(err error) int {
	e := apperr.As(err)
	if e == nil {
		return http.StatusInternalServerError
	}
	switch e.Kind {
	case apperr.KindInvalid:
		return http.StatusBadRequest
	case apperr.KindUnauthorized:
		return http.StatusUnauthorized
	case apperr.KindForbidden:
		return http.StatusForbidden
	case apperr.KindNotFound:
		return http.StatusNotFound
	case apperr.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case apperr.KindConflict:
		return http.StatusConflict
	case apperr.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.KindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case apperr.KindUnprocessable:
		return http.StatusUnprocessableEntity
	case apperr.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Body returns the error body for err; anything that is not an *apperr.Error becomes INTERNAL.
func Body(err error) ErrorBody {
	e := apperr.As(err)
	if e == nil || e.Kind == apperr.KindInternal {
		e = apperr.ErrInternal
	}
	return ErrorBody{Error: ErrorObject{Code: e.Code, Message: e.Message, Details: e.Details}}
}

// RetryAfterSeconds is the Retry-After of a 503: a dependency that is down (a database restarting, a
// service being deployed) is usually back within seconds.
const RetryAfterSeconds = "2"

// Error renders err. Server-side failures (5xx) are logged here, once, with the correlation id; a 503
// says when to retry. The body is ErrorBody, or what the router's ErrorRenderer makes of it.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	status := Status(err)
	if status >= 500 {
		logging.FromContext(r.Context()).Error("request failed", "error", err.Error(), "status", status)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfterSeconds)
	}
	body := Body(err)
	Annotate(r.Context(), "error_code", body.Error.Code)
	if s := stateFrom(r.Context()); s != nil && s.render != nil {
		Respond(w, status, s.render(logging.CorrelationID(r.Context()), body.Error))
		return
	}
	Respond(w, status, body)
}

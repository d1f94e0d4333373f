package orchestrator

import (
	"net/http"

	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
)

// SuccessBody is the wire shape of a 201 or 202.
type SuccessBody struct {
	Success       bool   `json:"success"`
	CorrelationID string `json:"correlationId"`
	Data          any    `json:"data"`
}

// ErrorBody is the wire shape of every error answer.
type ErrorBody struct {
	Success       bool            `json:"success"`
	CorrelationID string          `json:"correlationId"`
	Error         web.ErrorObject `json:"error"`
}

// errorBody is the router's web.ErrorRenderer: every error of the endpoint, its 404 and 405 and a
// recovered panic included, in the endpoint's envelope.
func errorBody(correlationID string, e web.ErrorObject) any {
	return ErrorBody{CorrelationID: correlationID, Error: e}
}

func respond(w http.ResponseWriter, r *http.Request, status int, data any) {
	web.Respond(w, status, SuccessBody{Success: true, CorrelationID: logging.CorrelationID(r.Context()), Data: data})
}

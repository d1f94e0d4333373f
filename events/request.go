package events

// Statuses of an order request: the result of a PlaceOrder, as orders-api records it and the
// orchestrator reads it.
const (
	RequestProcessing = "PROCESSING"
	RequestConfirmed  = "CONFIRMED"
	RequestRejected   = "REJECTED"
)

// OrderRequest is what orders-api knows of a create-and-confirm request (GET
// /internal/order-requests/{key}): the request's hash, its status, the order once one exists and the
// business error of a rejected request. orders-api writes it and the orchestrator reads it, both
// through this one type.
type OrderRequest struct {
	IdempotencyKey string `json:"idempotency_key"`
	RequestHash    string `json:"request_hash"`
	Status         string `json:"status"`
	Order          *Order `json:"order,omitempty"`
	Error          *Error `json:"error,omitempty"`
}

// Final reports whether the request has its final answer (CONFIRMED or REJECTED).
func (r OrderRequest) Final() bool {
	return r.Status == RequestConfirmed || r.Status == RequestRejected
}

package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"
)

// LineItem is a requested line: a product and a quantity.
type LineItem struct {
	ProductID int64 `json:"product_id"`
	Qty       int   `json:"qty"`
}

// PlaceOrder is the command the orchestrator sends to order-commands: create and confirm one order.
type PlaceOrder struct {
	IdempotencyKey string     `json:"idempotency_key"`
	RequestHash    string     `json:"request_hash"`
	CustomerID     int64      `json:"customer_id"`
	Items          []LineItem `json:"items"`
	CorrelationID  string     `json:"correlation_id"`
	RequestedAt    time.Time  `json:"requested_at"`
	// Actor is the subject of the orchestrator's caller, recorded as the actor of the order's changes;
	// empty when nobody authenticated the caller (the local orchestrator).
	Actor string `json:"actor,omitempty"`
	// ActorCustomerID is the customer the caller is bound to (its token's customer_id); 0 for an
	// operator. Such a caller may only order for that customer.
	ActorCustomerID int64 `json:"actor_customer_id,omitempty"`
}

// MergeItems merges lines of the same product (adding quantities) and sorts them by product id.
func MergeItems(items []LineItem) []LineItem {
	sum := make(map[int64]int, len(items))
	for _, it := range items {
		sum[it.ProductID] += it.Qty
	}
	out := make([]LineItem, 0, len(sum))
	for id, qty := range sum {
		out = append(out, LineItem{ProductID: id, Qty: qty})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProductID < out[j].ProductID })
	return out
}

// RequestHash is the SHA-256 (hex) of the canonical request: customer id and the merged, sorted items.
// The orchestrator and orders-api both compute it with this function, so one idempotency key can be
// checked against one request body everywhere.
func RequestHash(customerID int64, items []LineItem) string {
	canonical := struct {
		CustomerID int64      `json:"customer_id"`
		Items      []LineItem `json:"items"`
	}{customerID, MergeItems(items)}
	b, _ := json.Marshal(canonical) // fixed field order, integers only: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

package events

import "fmt"

// Limits of an order request: the same for the orchestrator's create-and-confirm, a PlaceOrder and
// orders-api's POST /orders, so a request one side accepts is never refused by the other.
const (
	MaxItems  = 100
	MaxQty    = 10000
	MaxKeyLen = 255
)

// FieldProblem is one invalid field of a request; callers turn it into their own error type.
type FieldProblem struct {
	Field   string
	Message string
}

// ValidKey reports whether key is an acceptable idempotency key: 1..255 visible ASCII characters, and
// not "." or "..". Keys travel as a path segment (GET /internal/order-requests/{key}), and URL joining
// cleans those two away, which would address another route.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > MaxKeyLen || key == "." || key == ".." {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidateItems checks the lines of an order request (1..100 lines, positive product ids, qty 1..10 000
// per line and per product after merging) and returns them merged by product and sorted by product id.
// With any problem it returns no lines and every problem it found.
func ValidateItems(items []LineItem) ([]LineItem, []FieldProblem) {
	var fp []FieldProblem
	switch {
	case len(items) == 0:
		fp = append(fp, FieldProblem{"items", "must hold at least one item"})
	case len(items) > MaxItems:
		fp = append(fp, FieldProblem{"items", fmt.Sprintf("must hold at most %d items", MaxItems)})
	}
	for i, it := range items {
		if it.ProductID <= 0 {
			fp = append(fp, FieldProblem{fmt.Sprintf("items[%d].product_id", i), "must be a positive integer"})
		}
		if it.Qty < 1 || it.Qty > MaxQty {
			fp = append(fp, FieldProblem{fmt.Sprintf("items[%d].qty", i), fmt.Sprintf("must be from 1 to %d", MaxQty)})
		}
	}
	if len(fp) > 0 {
		return nil, fp
	}
	merged := MergeItems(items)
	for _, it := range merged {
		// Lines in range can still add up past the limit; what is checked against stock is the total.
		if it.Qty > MaxQty {
			fp = append(fp, FieldProblem{"items", fmt.Sprintf("product %d: total qty must be at most %d", it.ProductID, MaxQty)})
		}
	}
	if len(fp) > 0 {
		return nil, fp
	}
	return merged, nil
}

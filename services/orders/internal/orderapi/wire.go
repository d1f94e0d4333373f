package orderapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Product is the wire shape of a product.
type Product struct {
	ID         int64     `json:"id"`
	SKU        string    `json:"sku"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int       `json:"stock"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func productWire(p order.Product) Product {
	return Product{ID: p.ID, SKU: p.SKU, Name: p.Name, PriceCents: p.PriceCents, Stock: p.Stock,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
}

// Item is the wire shape of an order line.
type Item struct {
	ProductID      int64 `json:"product_id"`
	Qty            int   `json:"qty"`
	UnitPriceCents int64 `json:"unit_price_cents"`
	SubtotalCents  int64 `json:"subtotal_cents"`
}

// Order is the wire shape of an order; lists leave out the items.
type Order struct {
	ID          int64      `json:"id"`
	CustomerID  int64      `json:"customer_id"`
	Status      string     `json:"status"`
	TotalCents  int64      `json:"total_cents"`
	Items       []Item     `json:"items,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	CanceledAt  *time.Time `json:"canceled_at"`
}

func orderWire(o order.Order) Order {
	w := Order{ID: o.ID, CustomerID: o.CustomerID, Status: o.Status, TotalCents: o.TotalCents,
		CreatedAt: o.CreatedAt.UTC(), ConfirmedAt: utc(o.ConfirmedAt), CanceledAt: utc(o.CanceledAt)}
	if len(o.Items) > 0 {
		w.Items = make([]Item, len(o.Items))
		for i, it := range o.Items {
			w.Items[i] = Item{ProductID: it.ProductID, Qty: it.Qty, UnitPriceCents: it.UnitPriceCents, SubtotalCents: it.SubtotalCents}
		}
	}
	return w
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// encodeOrder is the order.Render of the idempotent routes: the body stored with a key and replayed
// byte for byte.
func encodeOrder(o order.Order) ([]byte, error) {
	b, err := json.Marshal(orderWire(o))
	if err != nil {
		return nil, fmt.Errorf("encode order %d: %w", o.ID, err)
	}
	return b, nil
}

// CreateProductRequest is the body of POST /products; every field is required.
type CreateProductRequest struct {
	SKU        *string `json:"sku"`
	Name       *string `json:"name"`
	PriceCents *int64  `json:"price_cents"`
	Stock      *int    `json:"stock"`
}

// PatchProductRequest is the body of PATCH /products/{id}: price_cents and/or stock.
type PatchProductRequest struct {
	PriceCents *int64 `json:"price_cents"`
	Stock      *int   `json:"stock"`
}

// CreateOrderRequest is the body of POST /orders.
type CreateOrderRequest struct {
	CustomerID int64             `json:"customer_id"`
	Items      []events.LineItem `json:"items"`
}

package order_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

func TestValidateLines(t *testing.T) {
	many := make([]events.LineItem, 101)
	for i := range many {
		many[i] = events.LineItem{ProductID: 1, Qty: 1}
	}
	tests := []struct {
		name  string
		items []events.LineItem
		want  []events.LineItem
		err   string // details as JSON
	}{
		{"merges and sorts", []events.LineItem{{ProductID: 3, Qty: 1}, {ProductID: 1, Qty: 2}, {ProductID: 3, Qty: 4}},
			[]events.LineItem{{ProductID: 1, Qty: 2}, {ProductID: 3, Qty: 5}}, ""},
		{"empty", nil, nil, `[{"field":"items","message":"must hold at least one item"}]`},
		{"101 lines", many, nil, `[{"field":"items","message":"must hold at most 100 items"}]`},
		{"bad line", []events.LineItem{{ProductID: 0, Qty: 10001}}, nil,
			`[{"field":"items[0].product_id","message":"must be a positive integer"},{"field":"items[0].qty","message":"must be from 1 to 10000"}]`},
		{"merged qty too large", []events.LineItem{{ProductID: 1, Qty: 6000}, {ProductID: 1, Qty: 6000}}, nil,
			`[{"field":"items","message":"product 1: total qty must be at most 10000"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := order.ValidateLines(tc.items)
			if tc.err == "" {
				if err != nil || len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) || got[len(got)-1] != tc.want[len(tc.want)-1] {
					t.Errorf("got %v, %v, want %v", got, err, tc.want)
				}
				return
			}
			e := apperr.As(err)
			d, _ := json.Marshal(e.Details)
			if e == nil || e.Code != "VALIDATION_FAILED" || string(d) != tc.err {
				t.Errorf("got %v %s, want VALIDATION_FAILED %s", err, d, tc.err)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	products := map[int64]order.Product{1: {ID: 1, PriceCents: 250, Stock: 5}, 2: {ID: 2, PriceCents: 1000, Stock: 1}}
	o, err := order.Build(7, []events.LineItem{{ProductID: 1, Qty: 4}, {ProductID: 2, Qty: 1}}, products, now)
	if err != nil || o.CustomerID != 7 || o.Status != "CREATED" || o.TotalCents != 2000 || o.Version != 1 || len(o.Items) != 2 ||
		o.Items[0] != (order.Item{ProductID: 1, Qty: 4, UnitPriceCents: 250, SubtotalCents: 1000}) || !o.CreatedAt.Equal(now) {
		t.Errorf("got %+v, %v", o, err)
	}
	_, err = order.Build(7, []events.LineItem{{ProductID: 1, Qty: 6}, {ProductID: 2, Qty: 2}}, products, now)
	if e := apperr.As(err); !errors.Is(err, order.ErrInsufficientStock) || len(e.Details) != 2 ||
		e.Details[1] != (order.Shortage{ProductID: 2, Requested: 2, Available: 1}) {
		t.Errorf("short: got %v %+v", err, e)
	}
	// An unknown product wins over short stock: the request can never succeed.
	_, err = order.Build(7, []events.LineItem{{ProductID: 1, Qty: 6}, {ProductID: 9, Qty: 1}}, products, now)
	if !errors.Is(err, order.ErrProductNotFound) {
		t.Errorf("unknown: got %v", err)
	}
}

// A price stored around the API's limits must not wrap the total into a negative number.
func TestBuildOverflow(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	products := map[int64]order.Product{1: {ID: 1, PriceCents: math.MaxInt64, Stock: 5}, 2: {ID: 2, PriceCents: math.MaxInt64 / 2, Stock: 5},
		3: {ID: 3, PriceCents: order.MaxPriceCents, Stock: order.MaxQty}}
	for _, lines := range [][]events.LineItem{
		{{ProductID: 1, Qty: 2}},
		{{ProductID: 2, Qty: 1}, {ProductID: 1, Qty: 1}},
		{{ProductID: 2, Qty: 1}, {ProductID: 2, Qty: 1}, {ProductID: 2, Qty: 1}},
	} {
		if o, err := order.Build(7, lines, products, now); err == nil || apperr.As(err) != nil {
			t.Errorf("%v: got %+v, %v; want an internal error", lines, o, err)
		}
	}
	lines := make([]events.LineItem, order.MaxLines)
	for i := range lines {
		lines[i] = events.LineItem{ProductID: 3, Qty: order.MaxQty}
	}
	o, err := order.Build(7, lines, products, now)
	if want := int64(order.MaxPriceCents) * order.MaxQty * order.MaxLines; err != nil || o.TotalCents != want {
		t.Errorf("largest order: got %d, %v; want %d", o.TotalCents, err, want)
	}
}

func TestTransitions(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	window := 10 * time.Minute
	confirmedAt := t0
	tests := []struct {
		name    string
		o       order.Order
		op      func(*order.Order) (bool, error)
		changed bool
		err     error
		status  string
		version int
	}{
		{"confirm created", order.Order{Status: "CREATED", Version: 1}, func(o *order.Order) (bool, error) { return o.Confirm(t0) }, true, nil, "CONFIRMED", 2},
		{"confirm confirmed", order.Order{Status: "CONFIRMED", Version: 2, ConfirmedAt: &confirmedAt}, func(o *order.Order) (bool, error) { return o.Confirm(t0) }, false, nil, "CONFIRMED", 2},
		{"confirm canceled", order.Order{Status: "CANCELED", Version: 2}, func(o *order.Order) (bool, error) { return o.Confirm(t0) }, false, order.ErrNotConfirmable, "CANCELED", 2},
		{"cancel created", order.Order{Status: "CREATED", Version: 1}, func(o *order.Order) (bool, error) { return o.Cancel(t0.Add(time.Hour), window) }, true, nil, "CANCELED", 2},
		{"cancel confirmed at the window's end", order.Order{Status: "CONFIRMED", Version: 2, ConfirmedAt: &confirmedAt}, func(o *order.Order) (bool, error) { return o.Cancel(t0.Add(window), window) }, true, nil, "CANCELED", 3},
		{"cancel confirmed after the window", order.Order{Status: "CONFIRMED", Version: 2, ConfirmedAt: &confirmedAt}, func(o *order.Order) (bool, error) { return o.Cancel(t0.Add(window+time.Microsecond), window) }, false, order.ErrCancelWindowExpired, "CONFIRMED", 2},
		{"cancel canceled", order.Order{Status: "CANCELED", Version: 3}, func(o *order.Order) (bool, error) { return o.Cancel(t0, window) }, false, nil, "CANCELED", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			changed, err := tc.op(&o)
			if changed != tc.changed || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) || o.Status != tc.status || o.Version != tc.version {
				t.Errorf("got changed %v, err %v, %s v%d; want %v, %v, %s v%d", changed, err, o.Status, o.Version, tc.changed, tc.err, tc.status, tc.version)
			}
		})
	}
}

func TestIsTransient(t *testing.T) {
	if order.IsTransient(customerclient.ErrNotFound) || !order.IsBusiness(customerclient.ErrNotFound) {
		t.Error("CUSTOMER_NOT_FOUND must be a business failure")
	}
	if order.IsBusiness(customerclient.ErrUnavailable) {
		t.Error("CUSTOMERS_UNAVAILABLE must not be a business failure")
	}
	if order.IsBusiness(errors.New("driver: bad connection")) {
		t.Error("a driver error must not be a business failure")
	}
}

package reportdb_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/services/reporting/internal/report"
)

// history is a generated run of orders and the events their changes published, as orders-api would:
// full snapshots, aggregate_version +1 per change.
type history struct {
	// events in the order they happened.
	events []report.Event
	// final is the last snapshot of each order.
	final map[int64]report.Order
	start time.Time
}

var prices = func() map[int64]int64 {
	m := map[int64]int64{}
	for id := int64(1); id <= 15; id++ {
		m[id] = 100 * (id*7%13 + 1)
	}
	return m
}()

// generate makes n orders over ten days from start: some never confirmed, some canceled before
// confirmation, most confirmed, some of those canceled later (sometimes on a later day), and a few
// rejected requests. The events pass through the wire format and report.Decode, like real ones.
func generate(t *testing.T, n int, seed uint64) history {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	h := history{final: map[int64]report.Order{}, start: start}
	var all []events.Envelope
	emit := func(typ string, o events.Order, v int, at time.Time) {
		ev, err := events.NewOrderEvent(typ, o, v, fmt.Sprintf("corr-%d-%d", o.ID, v), at)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	minute := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Minute }
	for id := int64(1); id <= int64(n); id++ {
		created := start.Add(minute(0, 10*24*60-1)).Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)
		o := events.Order{ID: id, CustomerID: 1 + rng.Int64N(12), Status: "CREATED", CreatedAt: created}
		products := rng.Perm(15)[:1+rng.IntN(4)]
		slices.Sort(products)
		for _, p := range products {
			pid := int64(p + 1)
			qty := 1 + rng.IntN(5)
			sub := prices[pid] * int64(qty)
			o.Items = append(o.Items, events.Item{ProductID: pid, Qty: qty, UnitPriceCents: prices[pid], SubtotalCents: sub})
			o.TotalCents += sub
		}
		emit(events.OrderCreated, o, 1, created)
		v := 1
		switch fate := rng.IntN(100); {
		case fate < 15: // never confirmed
		case fate < 25: // canceled before confirmation
			at := created.Add(minute(1, 600))
			o.Status, o.CanceledAt = "CANCELED", &at
			v++
			emit(events.OrderCanceled, o, v, at)
		default:
			at := created.Add(minute(0, 30))
			o.Status, o.ConfirmedAt = "CONFIRMED", &at
			v++
			emit(events.OrderConfirmed, o, v, at)
			if fate >= 80 { // canceled after confirmation, sometimes on a later day
				cat := at.Add(minute(1, 2*24*60))
				o.Status, o.CanceledAt = "CANCELED", &cat
				v++
				emit(events.OrderCanceled, o, v, cat)
			}
		}
		var ro report.Order
		ev := decode(t, all[len(all)-1])
		ro = *ev.Order
		h.final[id] = ro
	}
	for i := 0; i < n/20; i++ {
		at := start.Add(minute(0, 10*24*60-1))
		ev, err := events.New(events.OrderRejected, events.AggregateOrderRequest, fmt.Sprintf("rejected-%d", i), 1, "corr-r",
			events.Rejected{IdempotencyKey: fmt.Sprintf("rejected-%d", i), CustomerID: 1, Items: []events.LineItem{{ProductID: 99, Qty: 1}},
				Error: events.Error{Code: "PRODUCT_NOT_FOUND", Kind: "not_found", Message: "product not found"}}, at)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].OccurredAt.Before(all[j].OccurredAt) })
	for _, e := range all {
		h.events = append(h.events, decode(t, e))
	}
	return h
}

func decode(t *testing.T, e events.Envelope) report.Event {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := report.Decode(b)
	if err != nil {
		t.Fatalf("decode generated %s: %v", e.Type, err)
	}
	return ev
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// expectedDays computes the daily sales report from the final snapshots, independently of SQL.
func (h history) expectedDays(r report.Range) []report.Day {
	byDay := map[time.Time]*report.Day{}
	at := func(t time.Time) *report.Day {
		d := day(t)
		if byDay[d] == nil {
			byDay[d] = &report.Day{Date: d}
		}
		return byDay[d]
	}
	in := func(t *time.Time) bool { return t != nil && !t.Before(r.From) && t.Before(r.End()) }
	for _, o := range h.final {
		if in(o.ConfirmedAt) {
			d := at(*o.ConfirmedAt)
			d.OrdersConfirmed++
			if o.Status == report.StatusConfirmed {
				d.Units += o.Units()
				d.RevenueCents += o.TotalCents
			}
		}
		if in(o.CanceledAt) {
			at(*o.CanceledAt).OrdersCanceled++
		}
	}
	var out []report.Day
	for _, d := range byDay {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out
}

// expectedTop computes the top products report from the final snapshots.
func (h history) expectedTop(r report.Range, limit int) []report.ProductSales {
	by := map[int64]*report.ProductSales{}
	for _, o := range h.final {
		if o.Status != report.StatusConfirmed || o.ConfirmedAt.Before(r.From) || !o.ConfirmedAt.Before(r.End()) {
			continue
		}
		for _, it := range o.Items {
			p := by[it.ProductID]
			if p == nil {
				p = &report.ProductSales{ProductID: it.ProductID}
				by[it.ProductID] = p
			}
			p.Units += int64(it.Qty)
			p.RevenueCents += it.SubtotalCents
			p.Orders++
		}
	}
	var out []report.ProductSales
	for _, p := range by {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Units != b.Units {
			return a.Units > b.Units
		}
		if a.RevenueCents != b.RevenueCents {
			return a.RevenueCents > b.RevenueCents
		}
		return a.ProductID < b.ProductID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// expectedCustomer computes the customer report from the final snapshots; ok is false without orders.
func (h history) expectedCustomer(id int64) (report.CustomerSummary, bool) {
	c := report.CustomerSummary{CustomerID: id}
	for _, o := range h.final {
		if o.CustomerID != id {
			continue
		}
		c.Orders++
		if o.ConfirmedAt != nil {
			c.OrdersConfirmed++
		}
		if o.CanceledAt != nil {
			c.OrdersCanceled++
		}
		if o.Status == report.StatusConfirmed {
			c.Units += o.Units()
			c.RevenueCents += o.TotalCents
		}
		if c.FirstOrderAt.IsZero() || o.CreatedAt.Before(c.FirstOrderAt) {
			c.FirstOrderAt = o.CreatedAt
		}
		if o.CreatedAt.After(c.LastOrderAt) {
			c.LastOrderAt = o.CreatedAt
		}
	}
	return c, c.Orders > 0
}

// newest is the occurred_at of the newest event.
func (h history) newest() time.Time {
	var t time.Time
	for _, e := range h.events {
		if e.OccurredAt.After(t) {
			t = e.OccurredAt
		}
	}
	return t
}

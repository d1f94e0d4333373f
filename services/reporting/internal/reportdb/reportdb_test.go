package reportdb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/services/reporting/internal/report"
	"github.com/b2b/backoffice/services/reporting/internal/reportdb"
)

// tables dumps every row of the projection and the inbox, in key order. processed_at is left out: it is
// the wall-clock time of processing, the one column that differs between two runs by design.
func tables(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, q := range map[string]string{
		"orders":           "SELECT * FROM orders ORDER BY order_id",
		"order_items":      "SELECT * FROM order_items ORDER BY order_id, product_id",
		"processed_events": "SELECT event_id, event_type, aggregate_type, aggregate_id, aggregate_version, occurred_at FROM processed_events ORDER BY event_id",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				fmt.Fprintf(&b, "%s=", cols[i])
				if v.Valid {
					b.WriteString(v.String)
				} else {
					b.WriteString("NULL")
				}
				b.WriteByte(' ')
			}
			out[name] = append(out[name], b.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// answers are every report over h's period, as the store gives them.
type answers struct {
	Days      []report.Day
	Top       []report.ProductSales
	Customers map[int64]report.CustomerSummary
	AsOf      []*time.Time
}

func reportsOf(t *testing.T, s *reportdb.Store, r report.Range) answers {
	t.Helper()
	ctx := context.Background()
	var a answers
	var asOf *time.Time
	var err error
	if a.Days, asOf, err = s.DailySales(ctx, r); err != nil {
		t.Fatal(err)
	}
	a.AsOf = append(a.AsOf, asOf)
	if a.Top, asOf, err = s.TopProducts(ctx, r, 100); err != nil {
		t.Fatal(err)
	}
	a.AsOf = append(a.AsOf, asOf)
	a.Customers = map[int64]report.CustomerSummary{}
	for id := int64(1); id <= 13; id++ {
		c, asOf, err := s.Customer(ctx, id)
		if errors.Is(err, report.ErrCustomerNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		a.Customers[id] = c
		a.AsOf = append(a.AsOf, asOf)
	}
	return a
}

// TestProjectionIgnoresOrderAndDuplicates: the events of 200 orders applied once in order, and every
// event delivered three times in shuffled order by four concurrent workers, leave identical tables and
// give identical answers, and those answers are the ones computed from the orders' final states.
func TestProjectionIgnoresOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := generate(t, 200, 20260301)
	r, err := report.NewRange("2026-03-01", "2026-03-31")
	if err != nil {
		t.Fatal(err)
	}

	inOrderDB := dbtest.New(t, "reporting")
	inOrder := reportdb.New(inOrderDB.DB)
	outcomes := map[report.Outcome]int{}
	for _, ev := range h.events {
		out, err := inOrder.Apply(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		outcomes[out]++
	}
	if outcomes[report.Stale] != 0 || outcomes[report.Duplicate] != 0 || outcomes[report.Applied]+outcomes[report.Recorded] != len(h.events) {
		t.Fatalf("in order, once: outcomes %v, want every event applied or recorded", outcomes)
	}

	shuffledDB := dbtest.New(t, "reporting")
	shuffled := reportdb.New(shuffledDB.DB)
	deliveries := make([]report.Event, 0, 3*len(h.events))
	for range 3 {
		deliveries = append(deliveries, h.events...)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	var (
		mu   sync.Mutex
		next int
		got  = map[report.Outcome]int{}
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(deliveries) {
					mu.Unlock()
					return
				}
				ev := deliveries[next]
				next++
				mu.Unlock()
				out, err := shuffled.Apply(ctx, ev)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[out]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if got[report.Duplicate] != 2*len(h.events) {
		t.Errorf("three deliveries of %d events: %d duplicates, want %d (outcomes %v)", len(h.events), got[report.Duplicate], 2*len(h.events), got)
	}

	a, b := reportsOf(t, inOrder, r), reportsOf(t, shuffled, r)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("answers differ:\nin order: %+v\nshuffled: %+v", a, b)
	}
	if want := h.expectedDays(r); !reflect.DeepEqual(a.Days, want) {
		t.Errorf("daily sales:\ngot  %+v\nwant %+v", a.Days, want)
	}
	if want := h.expectedTop(r, 100); !reflect.DeepEqual(a.Top, want) {
		t.Errorf("top products:\ngot  %+v\nwant %+v", a.Top, want)
	}
	for id := int64(1); id <= 13; id++ {
		want, ok := h.expectedCustomer(id)
		if c, found := a.Customers[id]; found != ok || (ok && !reflect.DeepEqual(c, want)) {
			t.Errorf("customer %d: got %+v (found %v), want %+v (found %v)", id, c, found, want, ok)
		}
	}
	newest := h.newest()
	for _, asOf := range append(a.AsOf, b.AsOf...) {
		if asOf == nil || !asOf.Equal(newest) {
			t.Errorf("as_of: got %v, want the newest event's time %s", asOf, newest)
		}
	}
	// The history must exercise what it is meant to: cancellations after confirmation, some on a later day.
	var canceledLater, canceledBefore, unconfirmed int
	for _, o := range h.final {
		switch {
		case o.ConfirmedAt != nil && o.CanceledAt != nil && !day(*o.CanceledAt).Equal(day(*o.ConfirmedAt)):
			canceledLater++
		case o.ConfirmedAt == nil && o.CanceledAt != nil:
			canceledBefore++
		case o.ConfirmedAt == nil:
			unconfirmed++
		}
	}
	if canceledLater == 0 || canceledBefore == 0 || unconfirmed == 0 || len(a.Days) < 10 {
		t.Errorf("history too tame: %d canceled on a later day, %d canceled unconfirmed, %d unconfirmed, %d days", canceledLater, canceledBefore, unconfirmed, len(a.Days))
	}

	ta, tb := tables(t, inOrderDB.DB), tables(t, shuffledDB.DB)
	for _, name := range []string{"orders", "order_items", "processed_events"} {
		if len(ta[name]) == 0 {
			t.Errorf("%s: empty", name)
		}
		if !reflect.DeepEqual(ta[name], tb[name]) {
			t.Errorf("%s differs: %d rows in order, %d shuffled\nfirst in order: %v\nfirst shuffled: %v", name, len(ta[name]), len(tb[name]), first(ta[name]), first(tb[name]))
		}
	}
	if n := len(ta["orders"]); n != 200 {
		t.Errorf("orders: %d rows, want 200", n)
	}
	if n := len(ta["processed_events"]); n != len(h.events) {
		t.Errorf("processed_events: %d rows, want %d", n, len(h.events))
	}
}

func first(rows []string) string {
	if len(rows) == 0 {
		return "(none)"
	}
	return rows[0]
}

// orderEvents returns the three events of one order's life: created (v1), confirmed (v2) and canceled
// after the confirmation (v3), on 2026-03-02.
func orderEvents(t *testing.T, id int64) (created, confirmed, canceled report.Event) {
	t.Helper()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	o := events.Order{ID: id, CustomerID: 5, Status: "CREATED", TotalCents: 3000, CreatedAt: at,
		Items: []events.Item{{ProductID: 1, Qty: 2, UnitPriceCents: 1000, SubtotalCents: 2000}, {ProductID: 2, Qty: 1, UnitPriceCents: 1000, SubtotalCents: 1000}}}
	mk := func(typ string, v int, o events.Order, when time.Time) report.Event {
		e, err := events.NewOrderEvent(typ, o, v, "corr", when)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, e)
	}
	created = mk(events.OrderCreated, 1, o, at)
	c := at.Add(time.Minute)
	o.Status, o.ConfirmedAt = "CONFIRMED", &c
	confirmed = mk(events.OrderConfirmed, 2, o, c)
	x := at.Add(2 * time.Minute)
	o.Status, o.CanceledAt = "CANCELED", &x
	canceled = mk(events.OrderCanceled, 3, o, x)
	return created, confirmed, canceled
}

func apply(t *testing.T, s *reportdb.Store, ev report.Event, want report.Outcome) {
	t.Helper()
	got, err := s.Apply(context.Background(), ev)
	if err != nil || got != want {
		t.Fatalf("apply %s v%d: got %q, %v; want %q", ev.Type, ev.AggregateVersion, got, err, want)
	}
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInboxAndVersions: a replayed event changes nothing; an older or equal snapshot after a newer one
// changes nothing but is recorded as processed; a cancellation that overtakes the confirmation wins.
func TestInboxAndVersions(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t, "reporting")
	s := reportdb.New(db.DB)
	created, confirmed, canceled := orderEvents(t, 42)

	apply(t, s, created, report.Applied)
	before := tables(t, db.DB)
	apply(t, s, created, report.Duplicate)
	if after := tables(t, db.DB); !reflect.DeepEqual(before, after) {
		t.Fatalf("a replayed event changed the tables:\nbefore %v\nafter  %v", before, after)
	}

	// The cancellation (v3) arrives before the confirmation (v2).
	apply(t, s, canceled, report.Applied)
	afterCancel := tables(t, db.DB)
	apply(t, s, confirmed, report.Stale)
	apply(t, s, confirmed, report.Duplicate)
	after := tables(t, db.DB)
	if !reflect.DeepEqual(afterCancel["orders"], after["orders"]) || !reflect.DeepEqual(afterCancel["order_items"], after["order_items"]) {
		t.Fatalf("a stale snapshot changed the projection:\nbefore %v\nafter  %v", afterCancel, after)
	}
	if n := len(after["processed_events"]); n != 3 {
		t.Fatalf("inbox: %d rows, want 3 (the stale event is processed too)", n)
	}
	var status string
	var version int
	var confirmedAt, canceledAt sql.NullTime
	if err := db.QueryRow("SELECT status, version, confirmed_at, canceled_at FROM orders WHERE order_id = 42").Scan(&status, &version, &confirmedAt, &canceledAt); err != nil {
		t.Fatal(err)
	}
	if status != "CANCELED" || version != 3 || !confirmedAt.Valid || !canceledAt.Valid {
		t.Fatalf("order 42: got %s v%d confirmed %v canceled %v, want CANCELED v3 with both times", status, version, confirmedAt, canceledAt)
	}

	// Another event id at a version already applied (a producer re-publishing) is stale too.
	again := canceled
	again.ID = "00000000-0000-4000-8000-000000000042"
	apply(t, s, again, report.Stale)

	r, _ := report.NewRange("2026-03-02", "2026-03-02")
	days, asOf, err := s.DailySales(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := []report.Day{{Date: r.From, OrdersConfirmed: 1, OrdersCanceled: 1, Units: 0, RevenueCents: 0}}
	if !reflect.DeepEqual(days, want) || asOf == nil || !asOf.Equal(canceled.OccurredAt) {
		t.Fatalf("daily sales: got %+v as of %v, want %+v as of %s", days, asOf, want, canceled.OccurredAt)
	}
}

// TestEffectAndInboxCommitTogether: a failure after the effect, inside the transaction, leaves neither
// the effect nor the inbox row; the next delivery applies the event, once.
func TestEffectAndInboxCommitTogether(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t, "reporting")
	// fail, when set, runs after the effect inside Apply's transaction.
	var fail func() error
	s := reportdb.New(db.DB, reportdb.AfterEffect(func() error {
		if fail == nil {
			return nil
		}
		return fail()
	}))
	created, confirmed, _ := orderEvents(t, 7)
	injected := errors.New("injected failure after the effect")
	var effectsSeen int
	fail = func() error {
		// The effect is there, inside the transaction, when the failure strikes.
		effectsSeen++
		return injected
	}
	if _, err := s.Apply(context.Background(), created); !errors.Is(err, injected) {
		t.Fatalf("apply with a failure after the effect: got %v, want the injected error", err)
	}
	if effectsSeen != 1 {
		t.Fatalf("the failure ran %d times, want once", effectsSeen)
	}
	for _, table := range []string{"orders", "order_items", "processed_events"} {
		if n := count(t, db.DB, "SELECT COUNT(*) FROM "+table); n != 0 {
			t.Errorf("%s: %d rows after the rolled back apply, want 0", table, n)
		}
	}
	fail = nil
	apply(t, s, created, report.Applied)
	apply(t, s, created, report.Duplicate)

	// The same for an update of a known order: the stored snapshot stays as it was.
	fail = func() error { return injected }
	if _, err := s.Apply(context.Background(), confirmed); !errors.Is(err, injected) {
		t.Fatalf("got %v, want the injected error", err)
	}
	if n := count(t, db.DB, "SELECT COUNT(*) FROM orders WHERE order_id = 7 AND version = 1 AND status = 'CREATED'"); n != 1 {
		t.Fatal("the order changed although its event's transaction failed")
	}
	if n := count(t, db.DB, "SELECT COUNT(*) FROM processed_events WHERE event_id = ?", confirmed.ID); n != 0 {
		t.Fatal("the inbox row of a failed apply was committed")
	}
	fail = nil
	apply(t, s, confirmed, report.Applied)
	if n := count(t, db.DB, "SELECT COUNT(*) FROM orders WHERE order_id = 7 AND version = 2 AND status = 'CONFIRMED'"); n != 1 {
		t.Fatal("the redelivered confirmation was not applied")
	}
	if n := count(t, db.DB, "SELECT COUNT(*) FROM processed_events"); n != 2 {
		t.Fatalf("inbox: %d rows, want 2", n)
	}
}

// TestConcurrentDeliveriesOfOneEvent: deliveries of one event handled at the same moment apply it once.
func TestConcurrentDeliveriesOfOneEvent(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t, "reporting")
	s := reportdb.New(db.DB)
	for id := int64(1); id <= 5; id++ {
		created, confirmed, _ := orderEvents(t, id)
		got := map[report.Outcome]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, ev := range []report.Event{created, confirmed} {
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := s.Apply(context.Background(), ev)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					got[out]++
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		// Each event is applied (or, for the creation overtaken by the confirmation, found stale) once.
		if got[report.Duplicate] != 14 || got[report.Applied]+got[report.Stale] != 2 || got[report.Applied] < 1 {
			t.Fatalf("order %d: outcomes %v, want 14 duplicates and each event applied or stale once", id, got)
		}
		if n := count(t, db.DB, "SELECT COUNT(*) FROM orders WHERE order_id = ? AND version = 2", id); n != 1 {
			t.Fatalf("order %d is not at version 2", id)
		}
		if n := count(t, db.DB, "SELECT COUNT(*) FROM order_items WHERE order_id = ?", id); n != 2 {
			t.Fatalf("order %d: %d items, want 2", id, n)
		}
	}
}

package customerdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/services/customers/customerstest"
	"github.com/b2b/backoffice/services/customers/internal/customer"
	"github.com/b2b/backoffice/services/customers/internal/customerdb"
)

func newCustomer(name, email string) customer.Customer {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return customer.Customer{Name: name, Email: email, CreatedAt: now, UpdatedAt: now}
}

// by is the audit record of action by an operator, now.
func by(action string) customer.Audit {
	return customer.Audit{Action: action, At: time.Now().UTC().Truncate(time.Microsecond), Actor: "ops-test", CorrelationID: "corr-test"}
}

// Two updates that move different customers to one email race past any read; the unique key on
// live_email stops the second, and the store reports it as EMAIL_TAKEN, not as a 500.
func TestConcurrentUpdatesToOneEmail(t *testing.T) {
	db := dbtest.New(t, "customers")
	s := customerdb.New(db.DB)
	ctx := context.Background()
	var ids []int64
	for i := range 6 {
		c, err := s.Create(ctx, newCustomer(fmt.Sprint("C", i), fmt.Sprintf("c%d@x.example", i)), by(customer.ActionCreated))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		ok, taken, bad int
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, id, by(customer.ActionUpdated), func(c *customer.Customer) error { c.Email = "same@x.example"; return nil })
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, customer.ErrEmailTaken):
				taken++
			default:
				bad++
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || taken != len(ids)-1 || bad != 0 {
		t.Fatalf("got %d ok, %d taken, %d other; want 1 ok and %d taken", ok, taken, bad, len(ids)-1)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM customers WHERE email = 'same@x.example'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("got %d rows with the email (%v), want 1", n, err)
	}
}

func TestUpdateRollsBackWhenFnFails(t *testing.T) {
	db := dbtest.New(t, "customers")
	s := customerdb.New(db.DB)
	ctx := context.Background()
	c, err := s.Create(ctx, newCustomer("Before", "b@x.example"), by(customer.ActionCreated))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err = s.Update(ctx, c.ID, by(customer.ActionUpdated), func(c *customer.Customer) error { c.Name = "After"; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	got, err := s.Get(ctx, c.ID)
	if err != nil || got.Name != "Before" {
		t.Fatalf("got %+v %v, want the name unchanged", got, err)
	}
	if err := s.Delete(ctx, c.ID, by(customer.ActionDeleted)); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"update": func() error {
			_, err := s.Update(ctx, c.ID, by(customer.ActionUpdated), func(*customer.Customer) error { return nil })
			return err
		}(),
		"get":    func() error { _, err := s.Get(ctx, c.ID); return err }(),
		"delete": s.Delete(ctx, c.ID, by(customer.ActionDeleted)),
	} {
		if !errors.Is(err, customer.ErrNotFound) {
			t.Errorf("%s of a deleted customer: got %v, want CUSTOMER_NOT_FOUND", name, err)
		}
	}
}

// The service lower-cases emails before storing them, so uniqueness compares them exactly: addresses
// that differ only by an accent or by ß/ss are different mailboxes, and the same one stays taken.
func TestEmailUniquenessIsExact(t *testing.T) {
	db := dbtest.New(t, "customers")
	s := customerdb.New(db.DB)
	ctx := context.Background()
	for _, email := range []string{"josé@acme.example", "jose@acme.example", "straße@acme.example", "strasse@acme.example"} {
		if _, err := s.Create(ctx, newCustomer("C", email), by(customer.ActionCreated)); err != nil {
			t.Errorf("create %q: got %v, want it stored", email, err)
		}
	}
	for _, email := range []string{"josé@acme.example", "jose@acme.example"} {
		if _, err := s.Create(ctx, newCustomer("Again", email), by(customer.ActionCreated)); !errors.Is(err, customer.ErrEmailTaken) {
			t.Errorf("create %q again: got %v, want EMAIL_TAKEN", email, err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM customers").Scan(&n); err != nil || n != 4 {
		t.Errorf("got %d customers (%v), want 4", n, err)
	}
}

// Every change writes its audit record in its own transaction, and a change that fails writes none.
func TestAuditRecordsEveryChangeAndOnlyThose(t *testing.T) {
	db := dbtest.New(t, "customers")
	s := customerdb.New(db.DB)
	ctx := context.Background()
	c, err := s.Create(ctx, newCustomer("Audited", "a@x.example"), by(customer.ActionCreated))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, newCustomer("Twin", "a@x.example"), by(customer.ActionCreated)); !errors.Is(err, customer.ErrEmailTaken) {
		t.Fatalf("create a taken email: got %v, want EMAIL_TAKEN", err)
	}
	bound := by(customer.ActionUpdated)
	bound.Actor, bound.ActorCustomerID = "acme-bot", 7
	if _, err := s.Update(ctx, c.ID, bound, func(c *customer.Customer) error { c.Name = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, c.ID, by(customer.ActionUpdated), func(*customer.Customer) error { return errors.New("refused") }); err == nil {
		t.Fatal("a failing update succeeded")
	}
	if err := s.Delete(ctx, c.ID, by(customer.ActionDeleted)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, c.ID, by(customer.ActionDeleted)); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want CUSTOMER_NOT_FOUND", err)
	}
	got := customerstest.AuditLog(t, db.DB)
	want := []string{
		fmt.Sprintf("customer.created by ops-test/0 of customer %d (corr-test)", c.ID),
		fmt.Sprintf("customer.updated by acme-bot/7 of customer %d (corr-test)", c.ID),
		fmt.Sprintf("customer.deleted by ops-test/0 of customer %d (corr-test)", c.ID),
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\ngot  %q\nwant %q", got, want)
	}
}

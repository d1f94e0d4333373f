// Package identity says who a use case runs for, in the terms the domain packages need: the actor
// recorded for every change, and the one customer a customer's own integration is restricted to. It
// imports nothing but the standard library, so the domain packages may depend on it; the HTTP layer
// builds a Caller from the verified access token (see auth.Caller).
package identity

import "errors"

// Anonymous is the actor of a change made for a caller nobody authenticated: the local orchestrator,
// which runs without an authorizer, and commands queued before commands carried their actor.
const Anonymous = "anonymous"

// Caller is who a use case runs for.
type Caller struct {
	// Actor is the subject of the caller's access token: stored as the actor of every change the use
	// case makes and carried in its events.
	Actor string
	// CustomerID binds the caller to one customer (the customer_id claim of a customer's own
	// integration): it sees and changes only that customer's data. 0 is a backoffice operator.
	CustomerID int64
}

// Operator reports whether c is a backoffice operator, not bound to one customer.
func (c Caller) Operator() bool { return c.CustomerID == 0 }

// Sees reports whether c may see the data of customer id: an operator sees every customer's, a
// customer-bound caller only its own.
func (c Caller) Sees(customerID int64) bool { return c.Operator() || c.CustomerID == customerID }

// ErrNoActor is returned by a use case that changes something when it was given no actor: every change
// records who made it, so a caller without one is a programming error, refused rather than stored
// anonymously.
var ErrNoActor = errors.New("identity: the caller has no actor")

// CheckActor returns ErrNoActor when c has no actor.
func (c Caller) CheckActor() error {
	if c.Actor == "" {
		return ErrNoActor
	}
	return nil
}

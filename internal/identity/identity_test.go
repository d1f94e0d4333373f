package identity_test

import (
	"errors"
	"testing"

	"github.com/b2b/backoffice/internal/identity"
)

func TestCaller(t *testing.T) {
	op := identity.Caller{Actor: "ops"}
	bound := identity.Caller{Actor: "acme-integration", CustomerID: 7}
	for _, tc := range []struct {
		name     string
		c        identity.Caller
		customer int64
		operator bool
		sees     bool
	}{
		{"operator sees any customer", op, 7, true, true},
		{"operator sees another one", op, 8, true, true},
		{"bound caller sees its own customer", bound, 7, false, true},
		{"bound caller does not see another", bound, 8, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Operator(); got != tc.operator {
				t.Errorf("Operator: got %v, want %v", got, tc.operator)
			}
			if got := tc.c.Sees(tc.customer); got != tc.sees {
				t.Errorf("Sees(%d): got %v, want %v", tc.customer, got, tc.sees)
			}
		})
	}
	if err := (identity.Caller{}).CheckActor(); !errors.Is(err, identity.ErrNoActor) {
		t.Errorf("CheckActor without an actor: got %v, want ErrNoActor", err)
	}
	if err := op.CheckActor(); err != nil {
		t.Errorf("CheckActor: got %v, want nil", err)
	}
}

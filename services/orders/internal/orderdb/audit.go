package orderdb

import (
	"context"
	"fmt"

	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Audit writes the record of a change in the change's transaction.
func (t tx) Audit(ctx context.Context, a order.Audit) error {
	_, err := t.tx.ExecContext(ctx,
		`INSERT INTO audit_log (occurred_at, actor, actor_customer_id, action, entity_type, entity_id, correlation_id)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.By.At, a.By.Actor, nullID(a.By.ActorCustomerID), a.Action, a.Entity, a.ID, nullString(a.By.CorrelationID))
	if err != nil {
		return fmt.Errorf("audit %s of %s %d: %w", a.Action, a.Entity, a.ID, err)
	}
	return nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

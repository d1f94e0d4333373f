// Package orderstest holds what the orders service's tests share: looks into an orders database and a
// stand-in for a failing customers-api.
package orderstest

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/b2b/backoffice/internal/web"
)

// Count returns the single integer query answers.
func Count(t testing.TB, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Events returns the outbox rows of aggregate id as "type@version", in outbox order.
func Events(t testing.TB, db *sql.DB, aggregateID string) []string {
	t.Helper()
	return outboxRows(t, db, aggregateID, "$.aggregate_version", "@")
}

// Actors returns the outbox events of aggregate id as "type by actor", in outbox order.
func Actors(t testing.TB, db *sql.DB, aggregateID string) []string {
	t.Helper()
	return outboxRows(t, db, aggregateID, "$.actor", " by ")
}

// outboxRows returns the outbox events of aggregate id as their type, sep and the envelope field at path.
func outboxRows(t testing.TB, db *sql.DB, aggregateID, path, sep string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT JSON_VALUE(payload, '$.type'), COALESCE(JSON_VALUE(payload, '`+path+`'), '') FROM outbox
		WHERE JSON_VALUE(payload, '$.aggregate_id') = ? ORDER BY `+"`offset`", aggregateID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, v string
		if err := rows.Scan(&typ, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, typ+sep+v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Audit returns the audit_log records of one entity ("order", "product") as
// "action by actor/bound customer (correlation id)", oldest first.
func Audit(t testing.TB, db *sql.DB, entity string, id int64) []string {
	t.Helper()
	rows, err := db.Query(`SELECT action, actor, COALESCE(actor_customer_id, 0), COALESCE(correlation_id, '') FROM audit_log
		WHERE entity_type = ? AND entity_id = ? ORDER BY id`, entity, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var action, actor, corr string
		var bound int64
		if err := rows.Scan(&action, &actor, &bound, &corr); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s by %s/%d (%s)", action, actor, bound, corr))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// NothingWritten fails t when any order, item, key, request or event exists.
func NothingWritten(t testing.TB, db *sql.DB) {
	t.Helper()
	for _, table := range []string{"orders", "order_items", "idempotency_keys", "order_requests", "outbox"} {
		if n := Count(t, db, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s: got %d rows, want 0", table, n)
		}
	}
}

// StandIn is a stand-in for a customers-api that is failing: it answers every request with status and
// an INTERNAL error body. It is closed when t ends.
func StandIn(t testing.TB, status int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.RespondRaw(w, status, []byte(`{"error":{"code":"INTERNAL","message":"internal error"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

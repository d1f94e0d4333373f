package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/b2b/backoffice/db"
	"github.com/b2b/backoffice/internal/dbtest"
)

// schemaOf describes every table and column of the current database, and the applied migrations.
func schemaOf(t *testing.T, conn *sql.DB) string {
	t.Helper()
	rows, err := conn.Query(`SELECT table_name, column_name, column_type FROM information_schema.columns
		WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var tbl, col, typ string
		if err := rows.Scan(&tbl, &col, &typ); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s.%s %s\n", tbl, col, typ)
	}
	var versions string
	if err := conn.QueryRow("SELECT CONCAT(COUNT(*), ':', COALESCE(MAX(version_id), 0)) FROM goose_db_version").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	return b.String() + "versions " + versions
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	for _, name := range db.Names {
		t.Run(name, func(t *testing.T) {
			conn := dbtest.New(t, name) // migrated once
			before := schemaOf(t, conn.DB)
			if !strings.Contains(before, ".") {
				t.Fatalf("no tables after migrating %s", name)
			}
			if err := db.Migrate(context.Background(), conn.DB, name); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if after := schemaOf(t, conn.DB); after != before {
				t.Fatalf("second migrate changed the schema:\n%s\nwant\n%s", after, before)
			}
		})
	}
	conn := dbtest.New(t, "customers")
	if err := db.Migrate(context.Background(), conn.DB, "billing"); err == nil {
		t.Fatal("migrating an unknown schema succeeded")
	}
}

// dump returns every row of the query as text, to compare the state before and after.
func dump(t *testing.T, conn *sql.DB, query string) []string {
	t.Helper()
	rows, err := conn.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals))
	}
	return out
}

func TestSeed(t *testing.T) {
	ctx := context.Background()

	customers := dbtest.New(t, "customers")
	for range 2 {
		if err := db.Seed(ctx, customers.DB, "customers"); err != nil {
			t.Fatal(err)
		}
	}
	var name, email string
	if err := customers.QueryRow("SELECT name, email FROM customers WHERE id = 1 AND deleted_at IS NULL").Scan(&name, &email); err != nil {
		t.Fatal(err)
	}
	if name != "ACME Corp" || email != "ops@acme.com" {
		t.Fatalf("customer 1: got %q %q, want ACME Corp ops@acme.com", name, email)
	}

	orders := dbtest.New(t, "orders")
	if err := db.Seed(ctx, orders.DB, "orders"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{1, 2} {
		var price, stock int
		if err := orders.QueryRow("SELECT price_cents, stock FROM products WHERE id = ?", id).Scan(&price, &stock); err != nil {
			t.Fatal(err)
		}
		if price != 129900 || stock < 50 {
			t.Fatalf("product %d: got price %d stock %d, want 129900 and at least 50", id, price, stock)
		}
	}
	var soldOut int
	if err := orders.QueryRow("SELECT COUNT(*) FROM products WHERE stock = 0").Scan(&soldOut); err != nil || soldOut < 1 {
		t.Fatalf("got %d products without stock (%v), want at least one", soldOut, err)
	}

	// Seeding again leaves the same rows, and does not undo changes made since.
	const productsQ = "SELECT id, sku, name, price_cents, stock, created_at, updated_at FROM products ORDER BY id"
	const customersQ = "SELECT id, name, email, phone, created_at, updated_at, deleted_at FROM customers ORDER BY id"
	if _, err := orders.Exec("UPDATE products SET stock = stock - 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	beforeP, beforeC := dump(t, orders.DB, productsQ), dump(t, customers.DB, customersQ)
	if err := db.Seed(ctx, orders.DB, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := db.Seed(ctx, customers.DB, "customers"); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, orders.DB, productsQ); fmt.Sprint(after) != fmt.Sprint(beforeP) {
		t.Fatalf("products changed by a second seed:\n%v\nwant\n%v", after, beforeP)
	}
	if after := dump(t, customers.DB, customersQ); fmt.Sprint(after) != fmt.Sprint(beforeC) {
		t.Fatalf("customers changed by a second seed:\n%v\nwant\n%v", after, beforeC)
	}

	// A schema without seed data is fine.
	reporting := dbtest.New(t, "reporting")
	if err := db.Seed(ctx, reporting.DB, "reporting"); err != nil {
		t.Fatalf("seed reporting: %v", err)
	}
}

// Package db owns the schema of every service database: embedded goose migrations, seed data, and the
// functions that apply them.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pressly/goose/v3"
)

// Names lists the databases, one per service.
var Names = []string{"customers", "orders", "reporting"}

//go:embed migrations seed
var files embed.FS

// Migrate applies every pending migration of the schema name ("customers", "orders", "reporting") to db.
// It is safe to run again: applied versions are recorded in goose_db_version.
func Migrate(ctx context.Context, db *sql.DB, name string) error {
	sub, err := fs.Sub(files, "migrations/"+name)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	if _, err := fs.Stat(sub, "."); err != nil || !known(name) {
		return fmt.Errorf("migrate %s: unknown schema", name)
	}
	p, err := goose.NewProvider(goose.DialectMySQL, db, sub)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	return nil
}

// Seed loads the schema's seed data. Rows are keyed by id and left alone when present, so it is safe to
// run twice and never overwrites changes made since.
func Seed(ctx context.Context, db *sql.DB, name string) error {
	b, err := files.ReadFile("seed/" + name + ".sql")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("seed %s: %w", name, err)
	}
	for _, stmt := range strings.Split(string(b), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("seed %s: %w", name, err)
		}
	}
	return nil
}

func known(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

// Package dbtest gives each test a freshly migrated database of its own on the real MySQL/MariaDB server,
// dropped when the test ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/db"
	"github.com/b2b/backoffice/internal/sqldb"
)

// DefaultServerDSN is the server the tests use unless TEST_DB_DSN says otherwise: the application user
// that db/ensure-mysql.sh creates, which may create and drop databases named bo_test_*.
const DefaultServerDSN = "backoffice:backoffice@tcp(127.0.0.1:3306)/"

// DB is a test database.
type DB struct {
	*sql.DB
	// Name is the database's name on the server.
	Name string
	// DSN connects to it (for processes started by the test).
	DSN string
}

// New creates a database named bo_test_<random>, applies the migrations of schema ("customers", "orders",
// "reporting") and drops it when t ends.
func New(t testing.TB, schema string) *DB {
	t.Helper()
	ctx := context.Background()
	server := ServerConfig(t)

	admin := connect(t, server)
	defer admin.Close()

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "bo_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c := connect(t, server)
		defer c.Close()
		if _, err := c.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})

	cfg := server.Clone()
	cfg.DBName = name
	conn := connect(t, cfg)
	t.Cleanup(func() { conn.Close() })
	if err := db.Migrate(ctx, conn, schema); err != nil {
		t.Fatalf("migrate %s: %v", schema, err)
	}
	return &DB{DB: conn, Name: name, DSN: cfg.FormatDSN()}
}

// ServerConfig returns the driver configuration of the test server (no database selected).
func ServerConfig(t testing.TB) *mysql.Config {
	t.Helper()
	dsn := os.Getenv("TEST_DB_DSN")
	if dsn == "" {
		dsn = DefaultServerDSN
	}
	// The same driver settings as the services (parseTime, UTC, utf8mb4).
	cfg, err := sqldb.Config{DSN: dsn}.MySQL()
	if err != nil {
		t.Fatalf("TEST_DB_DSN: %v", err)
	}
	cfg.DBName = ""
	return cfg
}

func connect(t testing.TB, cfg *mysql.Config) *sql.DB {
	t.Helper()
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("mysql connector: %v", err)
	}
	conn := sql.OpenDB(c)
	conn.SetMaxOpenConns(64)
	conn.SetMaxIdleConns(64)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.PingContext(ctx); err != nil {
		t.Fatalf("test database server %s unreachable (run db/ensure-mysql.sh or set TEST_DB_DSN): %v", cfg.Addr, err)
	}
	return conn
}

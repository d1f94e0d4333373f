package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/db"
)

// serverConfig is the database server the harness uses.
type serverConfig struct{ cfg *mysql.Config }

// dsn names database on the server. interpolate sends each statement with its parameters in one round
// trip instead of a prepare, execute and close.
func (s *serverConfig) dsn(database string, interpolate bool) string {
	c := s.cfg.Clone()
	c.DBName = database
	c.InterpolateParams = interpolate
	return c.FormatDSN()
}

// open connects to database (or the server with ""), with the services' driver settings: UTC, parsed
// times, utf8mb4.
func (s *serverConfig) open(ctx context.Context, database string, interpolate bool, conns int) (*sql.DB, error) {
	return openDSN(ctx, s.dsn(database, interpolate), conns)
}

func openDSN(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	c.Params["time_zone"] = "'+00:00'"
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.Addr, err)
	}
	d := sql.OpenDB(conn)
	d.SetMaxOpenConns(conns)
	d.SetMaxIdleConns(conns)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.PingContext(pctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("connect to database %q at %s as %s (is the server up? `make ensure-db`): %w", c.DBName, c.Addr, c.User, err)
	}
	return d, nil
}

// database returns the bench database of schema, creating and migrating it on first use.
func (b *bench) database(ctx context.Context, schema string) (string, error) {
	if name, ok := b.dbs[schema]; ok {
		return name, nil
	}
	name := "bench_" + b.runID + "_" + schema
	if err := b.createDatabase(ctx, name, schema); err != nil {
		return "", err
	}
	b.dbs[schema] = name
	return name, nil
}

// createDatabase creates database name and applies the migrations of schema; it is dropped at the end.
func (b *bench) createDatabase(ctx context.Context, name, schema string) error {
	if _, err := b.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1044 || me.Number == 1045) {
			return fmt.Errorf("create database %s: %w (the user needs rights on bench_%%: run `make ensure-db`, which grants them)", name, err)
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	b.created = append(b.created, name)
	conn, err := b.server.open(ctx, name, false, 4)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := db.Migrate(ctx, conn, schema); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops a database the harness created.
func (b *bench) dropDatabase(ctx context.Context, name string) error {
	if _, err := b.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	for i, n := range b.created {
		if n == name {
			b.created = append(b.created[:i], b.created[i+1:]...)
			break
		}
	}
	return nil
}

// stock of every seeded product: enough that no run of any length sells out (INT holds up to 2^31-1).
const seedStock = 1_000_000_000

// seedCustomers inserts n customers tagged with tag and returns their ids.
func seedCustomers(ctx context.Context, d *sql.DB, n int, tag string) ([]int64, error) {
	const chunk = 500
	for i := 0; i < n; i += chunk {
		var q strings.Builder
		q.WriteString("INSERT INTO customers (name, email, phone, created_at, updated_at) VALUES ")
		var args []any
		for j := i; j < min(n, i+chunk); j++ {
			if j > i {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, NULL, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
			args = append(args, fmt.Sprintf("Bench customer %d", j+1), fmt.Sprintf("bench-%s-%d@bench.example", tag, j+1))
		}
		if _, err := d.ExecContext(ctx, q.String(), args...); err != nil {
			return nil, fmt.Errorf("seed customers: %w", err)
		}
	}
	return ids(ctx, d, "SELECT id FROM customers WHERE email LIKE ? ORDER BY id", "bench-"+tag+"-%")
}

// seedProducts inserts n products with ample stock tagged with tag and returns their ids, ascending.
func seedProducts(ctx context.Context, d *sql.DB, n int, tag string) ([]int64, error) {
	const chunk = 500
	for i := 0; i < n; i += chunk {
		var q strings.Builder
		q.WriteString("INSERT INTO products (sku, name, price_cents, stock, created_at, updated_at) VALUES ")
		var args []any
		for j := i; j < min(n, i+chunk); j++ {
			if j > i {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
			args = append(args, fmt.Sprintf("BENCH-%s-%04d", strings.ToUpper(tag), j+1), fmt.Sprintf("Bench product %d", j+1),
				100+rand.Int64N(100_000), seedStock)
		}
		if _, err := d.ExecContext(ctx, q.String(), args...); err != nil {
			return nil, fmt.Errorf("seed products: %w", err)
		}
	}
	return ids(ctx, d, "SELECT id FROM products WHERE sku LIKE ? ORDER BY id", "BENCH-"+strings.ToUpper(tag)+"-%")
}

func ids(ctx context.Context, d *sql.DB, query string, args ...any) ([]int64, error) {
	rows, err := d.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read seeded ids: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read seeded ids: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// DBServer describes the database server a run used.
type DBServer struct {
	Version  string            `json:"version"`
	Addr     string            `json:"addr"`
	Settings map[string]string `json:"settings"`
}

// describeServer reads the version and the settings that bear on write throughput.
func describeServer(ctx context.Context, admin *sql.DB, addr string) DBServer {
	s := DBServer{Addr: addr, Settings: map[string]string{}}
	_ = admin.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.Version)
	for _, v := range []string{"innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin", "innodb_buffer_pool_size",
		"innodb_log_file_size", "innodb_lock_wait_timeout", "transaction_isolation", "tx_isolation", "max_connections"} {
		var val sql.NullString
		if err := admin.QueryRowContext(ctx, "SELECT @@GLOBAL."+v).Scan(&val); err == nil && val.Valid {
			s.Settings[v] = val.String
		}
	}
	return s
}

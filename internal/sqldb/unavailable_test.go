package sqldb_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/sqldb"
)

// TestUnavailable: the errors that mean "the database cannot be reached" (what a client should retry)
// are told apart from the errors about a statement or the data (what retrying cannot fix), from real
// driver errors where they can be provoked.
func TestUnavailable(t *testing.T) {
	db := scratch(t)
	_, dup := db.Exec("INSERT INTO t (id, v) VALUES (1, 0)")
	_, syntax := db.Exec("SELEKT 1")
	_, noTable := db.Exec("SELECT * FROM no_such_table")
	var n int
	noRows := db.QueryRow("SELECT v FROM t WHERE id = 99").Scan(&n)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	refused := func() error {
		c := dbtest.ServerConfig(t)
		c.Addr, c.Timeout = closed, time.Second
		conn, err := mysql.NewConnector(c)
		if err != nil {
			t.Fatal(err)
		}
		pool := sql.OpenDB(conn)
		defer pool.Close()
		return pool.PingContext(context.Background())
	}()

	// A connection the server drops while the pool holds it (the server restarting).
	proxy := db.NewProxy(t)
	through := proxy.DB(db)
	through.SetMaxOpenConns(1)
	tx, err := through.Begin()
	if err != nil {
		t.Fatal(err)
	}
	proxy.Down()
	_, dropped := tx.Exec("SELECT 1")
	_ = tx.Rollback()
	_, afterDown := through.Exec("SELECT 1")

	deadline, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-deadline.Done()
	_, timedOut := db.ExecContext(deadline, "SELECT 1")
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, gone := db.ExecContext(canceled, "SELECT 1")

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"connection dropped mid-transaction", dropped, true},
		{"no server behind the pool", afterDown, true},
		{"deadline passed", timedOut, true},
		{"wrapped", fmt.Errorf("get customer 1: %w", refused), true},
		{"bad connection", driver.ErrBadConn, true},
		{"invalid connection", mysql.ErrInvalidConn, true},
		{"too many connections", &mysql.MySQLError{Number: 1040, Message: "Too many connections"}, true},
		{"shutdown in progress", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{"connection killed", &mysql.MySQLError{Number: 1927, Message: "Connection was killed"}, true},
		{"server gone", &mysql.MySQLError{Number: 2006, Message: "MySQL server has gone away"}, true},
		{"server lost", &mysql.MySQLError{Number: 2013, Message: "Lost connection"}, true},
		{"nil", nil, false},
		{"duplicate key", dup, false},
		{"syntax error", syntax, false},
		{"unknown table", noTable, false},
		{"no rows", noRows, false},
		{"access denied", &mysql.MySQLError{Number: 1045, Message: "Access denied"}, false},
		{"deadlock", &mysql.MySQLError{Number: 1213, Message: "Deadlock"}, false},
		{"caller canceled", gone, false},
		{"any other error", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want && tc.err == nil {
				t.Fatal("the error was not provoked")
			}
			if got := sqldb.Unavailable(tc.err); got != tc.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
			got := sqldb.Translate(tc.err)
			switch {
			case tc.want && (!errors.Is(got, sqldb.ErrUnavailable) || !errors.Is(got, tc.err)):
				t.Fatalf("Translate(%v) = %v, want DATABASE_UNAVAILABLE wrapping it", tc.err, got)
			case !tc.want && got != tc.err:
				t.Fatalf("Translate(%v) = %v, want it unchanged", tc.err, got)
			}
		})
	}
	// An application error stays what it is, even over a connection error.
	notFound := apperr.NotFound("X_NOT_FOUND", "x").Wrap(driver.ErrBadConn)
	if got := sqldb.Translate(notFound); got != error(notFound) {
		t.Fatalf("Translate(%v) = %v, want it unchanged", notFound, got)
	}
}

package sqldb_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/sqldb"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

// scratch returns a fresh test database with a table t(id, v) holding rows 1 and 2.
func scratch(t *testing.T) *dbtest.DB {
	t.Helper()
	db := dbtest.New(t, "customers")
	for _, q := range []string{
		"CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, u VARCHAR(20) NULL, UNIQUE KEY uq_u (u)) ENGINE=InnoDB",
		"INSERT INTO t (id, v) VALUES (1, 0), (2, 0)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func count(t *testing.T, db *sql.DB, where string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM t WHERE " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInTxCommits(t *testing.T) {
	db := scratch(t)
	err := sqldb.InTx(context.Background(), db.DB, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO t (id, v) VALUES (3, 30)")
		return err
	})
	if err != nil || count(t, db.DB, "id = 3 AND v = 30") != 1 {
		t.Fatalf("got %v and %d rows, want the row committed", err, count(t, db.DB, "id = 3"))
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	db := scratch(t)
	boom := errors.New("boom")
	err := sqldb.InTx(context.Background(), db.DB, func(tx *sql.Tx) error {
		if _, err := tx.Exec("INSERT INTO t (id, v) VALUES (3, 30)"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || count(t, db.DB, "id = 3") != 0 {
		t.Fatalf("got %v, want boom and no row", err)
	}
}

func TestInTxRollsBackOnPanic(t *testing.T) {
	db := scratch(t)
	func() {
		defer func() {
			if p := recover(); p != "kaboom" {
				t.Fatalf("got panic %v, want kaboom passed on", p)
			}
		}()
		_ = sqldb.InTx(context.Background(), db.DB, func(tx *sql.Tx) error {
			if _, err := tx.Exec("INSERT INTO t (id, v) VALUES (3, 30)"); err != nil {
				return err
			}
			panic("kaboom")
		})
	}()
	if n := count(t, db.DB, "id = 3"); n != 0 {
		t.Fatalf("got %d rows after a panic, want 0", n)
	}
	// The connection went back to the pool usable, not stuck in the transaction.
	db.SetMaxOpenConns(1)
	if err := sqldb.InTx(context.Background(), db.DB, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE t SET v = 1 WHERE id = 1")
		return err
	}); err != nil || count(t, db.DB, "id = 1 AND v = 1") != 1 {
		t.Fatalf("after the panic: %v", err)
	}
}

// The connection dies between the work and the commit: InTx must report the failed commit rather
// than nil (the classic bug of ignoring the Commit error).
func TestInTxReturnsCommitError(t *testing.T) {
	db := scratch(t)
	err := sqldb.InTx(context.Background(), db.DB, func(tx *sql.Tx) error {
		if _, err := tx.Exec("INSERT INTO t (id, v) VALUES (3, 30)"); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow("SELECT CONNECTION_ID()").Scan(&id); err != nil {
			return err
		}
		_, err := db.Exec("KILL CONNECTION " + strconv.FormatInt(id, 10))
		return err
	})
	if err == nil || !strings.HasPrefix(err.Error(), "commit:") {
		t.Fatalf("got %v, want the commit error", err)
	}
	if n := count(t, db.DB, "id = 3"); n != 0 {
		t.Fatalf("got %d rows, want the uncommitted insert gone", n)
	}
}

// Two transactions lock rows 1 and 2 in opposite orders: InnoDB kills one with a deadlock (1213), InTx
// runs it again, and both changes end up committed.
func TestInTxRetriesARealDeadlock(t *testing.T) {
	db := scratch(t)
	before, stats := sqldb.Retries(), sqldb.RetryCounts()
	ctx := context.Background()
	var (
		oneLocked, twoLocked = make(chan struct{}), make(chan struct{})
		attempts             [2]atomic.Int32
		sawDeadlock          atomic.Bool
	)
	worker := func(i int, first, second int, mine, theirs chan struct{}) error {
		return sqldb.InTx(ctx, db.DB, func(tx *sql.Tx) error {
			n := attempts[i].Add(1)
			if _, err := tx.Exec("UPDATE t SET v = v + 1 WHERE id = ?", first); err != nil {
				return err
			}
			if n == 1 {
				close(mine)
				<-theirs
			}
			_, err := tx.Exec("UPDATE t SET v = v + 1 WHERE id = ?", second)
			if sqldb.Is(err, sqldb.ErrDeadlock) {
				sawDeadlock.Store(true)
			}
			return err
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = worker(0, 1, 2, oneLocked, twoLocked) }()
	go func() { defer wg.Done(); errs[1] = worker(1, 2, 1, twoLocked, oneLocked) }()
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("got %v, want both transactions to succeed", errs)
	}
	if !sawDeadlock.Load() {
		t.Fatal("no deadlock happened; the test did not test anything")
	}
	if got := sqldb.Retries(); got <= before {
		t.Fatalf("Retries() = %d, want more than %d", got, before)
	}
	// The killed transaction committed on a later attempt: recovered, not exhausted.
	if got := sqldb.RetryCounts(); got.Recovered <= stats.Recovered || got.Exhausted != stats.Exhausted || got.Retried != sqldb.Retries() {
		t.Fatalf("RetryCounts() went from %+v to %+v, want Recovered up, Exhausted unchanged, Retried = Retries()", stats, got)
	}
	if total := attempts[0].Load() + attempts[1].Load(); total < 3 {
		t.Fatalf("got %d attempts in all, want a retry", total)
	}
	if n := count(t, db.DB, "v = 2"); n != 2 {
		t.Fatalf("got %d rows with v = 2, want both rows incremented by both transactions", n)
	}
}

// A transaction that keeps hitting lock wait timeouts is given up after MaxTxAttempts: the caller gets
// the driver error, and it counts once as exhausted. The driver error is made up here because a real
// lock wait timeout takes at least a second per attempt.
func TestInTxGivesUpAfterMaxAttempts(t *testing.T) {
	db := scratch(t)
	before := sqldb.RetryCounts()
	attempts := 0
	err := sqldb.InTx(context.Background(), db.DB, func(tx *sql.Tx) error {
		attempts++
		if _, err := tx.Exec("UPDATE t SET v = v + 1 WHERE id = 1"); err != nil {
			return err
		}
		return &mysql.MySQLError{Number: sqldb.ErrLockWaitTimeout, Message: "Lock wait timeout exceeded"}
	})
	if !sqldb.Is(err, sqldb.ErrLockWaitTimeout) || attempts != sqldb.MaxTxAttempts {
		t.Fatalf("got %v after %d attempts, want the lock wait timeout after %d", err, attempts, sqldb.MaxTxAttempts)
	}
	if n := count(t, db.DB, "id = 1 AND v = 0"); n != 1 {
		t.Fatal("an attempt was committed")
	}
	got := sqldb.RetryCounts()
	want := sqldb.RetryStats{Retried: before.Retried + sqldb.MaxTxAttempts - 1, Recovered: before.Recovered, Exhausted: before.Exhausted + 1}
	if got != want {
		t.Fatalf("RetryCounts() = %+v, want %+v", got, want)
	}
}

func TestErrorClassification(t *testing.T) {
	db := scratch(t)
	if _, err := db.Exec("UPDATE t SET u = 'x' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec("UPDATE t SET u = 'x' WHERE id = 2")
	if !sqldb.IsDuplicate(err) || sqldb.IsRetryable(err) {
		t.Fatalf("got %v: IsDuplicate %v, IsRetryable %v", err, sqldb.IsDuplicate(err), sqldb.IsRetryable(err))
	}
	if sqldb.IsDuplicate(errors.New("Duplicate entry")) || sqldb.IsDuplicate(nil) {
		t.Fatal("IsDuplicate matched a non-driver error")
	}
}

func serverConfig(t *testing.T) sqldb.Config {
	t.Helper()
	s := dbtest.ServerConfig(t)
	host, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	return sqldb.Config{Host: host, Port: p, User: s.User, Password: s.Passwd, ConnectTimeout: 2 * time.Second}
}

func TestOpen(t *testing.T) {
	test := dbtest.New(t, "customers")
	c := serverConfig(t)
	c.Name = test.Name
	db, err := sqldb.Open(context.Background(), c, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// parseTime, UTC session and utf8mb4 are always on.
	var (
		now  time.Time
		zone string
		s    string
	)
	if err := db.QueryRow("SELECT UTC_TIMESTAMP(6), @@session.time_zone, CONVERT(? USING utf8mb4)", "ok 👍").Scan(&now, &zone, &s); err != nil {
		t.Fatal(err)
	}
	if time.Since(now).Abs() > time.Hour || now.Location() != time.UTC || zone != "+00:00" || s != "ok 👍" {
		t.Fatalf("got %v %q %q", now, zone, s)
	}
	// DB_DSN wins over the parts.
	d := sqldb.Config{DSN: test.DSN, Host: "nowhere.invalid", ConnectTimeout: time.Second}
	db2, err := sqldb.Open(context.Background(), d, quiet)
	if err != nil {
		t.Fatalf("open by DSN: %v", err)
	}
	db2.Close()
}

// The driver's own lines (here: an idle connection found dead when it is reused) reach the process's JSON
// log, not stderr.
func TestOpenSendsDriverLinesToTheLog(t *testing.T) {
	test := dbtest.New(t, "customers")
	proxy := test.NewProxy(t)
	var buf proctest.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	db, err := sqldb.Open(context.Background(), sqldb.Config{DSN: proxy.DSN(test.DSN), ConnectTimeout: 2 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	proxy.Down()
	proxy.Up()
	if _, err := db.Exec("SELECT 1"); err != nil {
		t.Fatalf("a dead idle connection should be replaced: %v", err)
	}
	var line struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}
	for l := range strings.Lines(buf.String()) {
		if strings.Contains(l, "closing bad idle connection") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("driver line is not JSON: %q", l)
			}
		}
	}
	if line.Level != "WARN" {
		t.Fatalf("no WARN line from the driver in the log:\n%s", buf.String())
	}
}

func TestOpenFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	p, _ := strconv.Atoi(closedPort)

	unreachable := sqldb.Config{Host: "127.0.0.1", Port: p, User: "backoffice", Name: "customers", ConnectTimeout: time.Second}
	wrongPassword := serverConfig(t)
	wrongPassword.Password = "definitely-wrong"
	missing := serverConfig(t)
	missing.Name = "bo_test_does_not_exist"

	for _, tc := range []struct {
		name string
		cfg  sqldb.Config
		want string
	}{
		{"unreachable", unreachable, "database unreachable at 127.0.0.1:" + closedPort},
		{"access denied", wrongPassword, "database access denied for user"},
		{"missing database", missing, `database "bo_test_does_not_exist" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqldb.Open(context.Background(), tc.cfg, quiet)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "definitely-wrong") {
				t.Fatalf("got %q, want it to contain %q and no password", err, tc.want)
			}
		})
	}
}

func TestEscapeLikeMatchesLiterally(t *testing.T) {
	db := dbtest.New(t, "customers")
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE words (w VARCHAR(50) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	words := []string{`50% off`, `500 off`, `a_b`, `axb`, `wow!`, `wow`, `back\slash`, `backslash`}
	for _, w := range words {
		if _, err := db.ExecContext(ctx, "INSERT INTO words VALUES (?)", w); err != nil {
			t.Fatal(err)
		}
	}
	for search, want := range map[string]string{`0%`: `50% off`, `a_b`: `a_b`, `w!`: `wow!`, `k\s`: `back\slash`} {
		rows, err := db.QueryContext(ctx, "SELECT w FROM words WHERE w LIKE ? ESCAPE '!'", "%"+sqldb.EscapeLike(search)+"%")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var w string
			if err := rows.Scan(&w); err != nil {
				t.Fatal(err)
			}
			got = append(got, w)
		}
		rows.Close()
		if len(got) != 1 || got[0] != want {
			t.Errorf("search %q matched %q, want only %q", search, got, want)
		}
	}
}

func TestConfigLogValueMasksSecrets(t *testing.T) {
	l := config.New(func(k string) string {
		return map[string]string{"DB_PASSWORD": "pw-secret", "DB_DSN": "u:pw-secret@tcp(h:3306)/orders", "DB_HOST": "db.internal"}[k]
	})
	c := sqldb.LoadConfig(l, "orders")
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "db", c)
	got := buf.String()
	if strings.Contains(got, "pw-secret") || !strings.Contains(got, `"host":"db.internal"`) || !strings.Contains(got, `"password":"*** (9 chars)"`) {
		t.Errorf("logged %s: want host shown, password and DSN masked", got)
	}

	bad := config.New(func(k string) string { return map[string]string{"DB_DSN": "not a dsn"}[k] })
	sqldb.LoadConfig(bad, "orders")
	if err := bad.Err(); err == nil || !strings.HasPrefix(err.Error(), "config: DB_DSN is not a valid MySQL DSN") {
		t.Errorf("bad DB_DSN: error %v, want one naming DB_DSN", err)
	}
}

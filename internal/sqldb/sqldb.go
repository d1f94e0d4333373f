// Package sqldb opens MySQL/MariaDB connections, runs transactions (InTx, the only Begin/Commit/Rollback
// in the repo) and classifies driver errors.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/internal/config"
)

// MySQL error numbers this package understands.
const (
	ErrDupEntry        = 1062
	ErrLockWaitTimeout = 1205
	ErrDeadlock        = 1213
	ErrAccessDenied    = 1045
	ErrBadDB           = 1049
)

// Config says where the database is. DSN, when set, wins over the parts.
type Config struct {
	DSN      string
	Host     string
	Port     int
	User     string
	Password string
	Name     string
	// ConnectTimeout bounds the start-up retries.
	ConnectTimeout time.Duration
	// MultiStatements lets one Exec carry several statements (one round trip for many primary-key
	// deletes). Set in code by the process that needs it, never from the environment.
	MultiStatements bool
}

// LoadConfig reads DB_DSN or DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME (default name defName),
// and DB_CONNECT_TIMEOUT.
func LoadConfig(l *config.Loader, defName string) Config {
	c := Config{
		DSN:            l.String("DB_DSN", ""),
		Host:           l.String("DB_HOST", "127.0.0.1"),
		Port:           l.Int("DB_PORT", 3306, 1, 65535),
		User:           l.String("DB_USER", "backoffice"),
		Password:       l.Raw("DB_PASSWORD"),
		Name:           l.String("DB_NAME", defName),
		ConnectTimeout: l.Duration("DB_CONNECT_TIMEOUT", 30*time.Second, 10*time.Minute),
	}
	if c.DSN != "" {
		if _, err := mysql.ParseDSN(c.DSN); err != nil {
			l.Check("DB_DSN", fmt.Errorf("is not a valid MySQL DSN: %v", err))
		}
	}
	return c
}

// LogValue is how the configuration appears in logs: the password, and the DSN that may hold it, masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.String("user", c.User),
		slog.String("name", c.Name),
		slog.String("password", config.Secret(c.Password)),
		slog.String("dsn", config.Secret(c.DSN)),
		slog.String("connect_timeout", c.ConnectTimeout.String()),
	)
}

// MySQL returns the driver configuration: always parseTime, UTC, utf8mb4, interpolated parameters.
func (c Config) MySQL() (*mysql.Config, error) {
	var mc *mysql.Config
	if c.DSN != "" {
		var err error
		if mc, err = mysql.ParseDSN(c.DSN); err != nil {
			return nil, fmt.Errorf("config: DB_DSN is not a valid MySQL DSN: %v", err)
		}
	} else {
		mc = mysql.NewConfig()
		mc.Net = "tcp"
		mc.Addr = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
		mc.User = c.User
		mc.Passwd = c.Password
		mc.DBName = c.Name
	}
	mc.ParseTime = true
	mc.Loc = time.UTC
	mc.Collation = "utf8mb4_unicode_ci"
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["time_zone"] = "'+00:00'"
	if mc.Timeout == 0 {
		mc.Timeout = 5 * time.Second
	}
	mc.ClientFoundRows = false
	// Parameters are interpolated by the driver (escaped for the connection's utf8mb4): a statement is one
	// round trip instead of a prepare, an execute and a close. Inside a transaction that holds row locks
	// every round trip saved shortens the time others wait on them.
	mc.InterpolateParams = true
	mc.MultiStatements = c.MultiStatements
	return mc, nil
}

// Open connects and pings, retrying an unreachable server with backoff for up to ConnectTimeout.
// Access denied and unknown database are final at once. The error names which of the three it is.
func Open(ctx context.Context, c Config, log *slog.Logger) (*sql.DB, error) {
	mc, err := c.MySQL()
	if err != nil {
		return nil, err
	}
	// The driver otherwise prints its own lines (a connection reset, a bad packet) to stderr through a
	// process-wide logger; this connector's go to the JSON log.
	mc.Logger = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("database: %v", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)

	log.Info("connecting to database", "addr", mc.Addr, "user", mc.User, "database", mc.DBName)
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			return db, nil
		}
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			switch me.Number {
			case ErrAccessDenied:
				db.Close()
				return nil, fmt.Errorf("database access denied for user %q at %s (check DB_USER/DB_PASSWORD)", mc.User, mc.Addr)
			case ErrBadDB:
				db.Close()
				return nil, fmt.Errorf("database %q does not exist at %s (run make migrate)", mc.DBName, mc.Addr)
			}
		}
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			db.Close()
			return nil, fmt.Errorf("database unreachable at %s after %d attempts: %v", mc.Addr, attempt, err)
		}
		log.Warn("database not ready, retrying", "addr", mc.Addr, "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(wait*2, 3*time.Second)
	}
}

// MaxTxAttempts bounds how often InTx runs a transaction that keeps deadlocking.
const MaxTxAttempts = 10

// InTx runs fn in a transaction and commits it, returning the commit error. It rolls back when fn
// returns an error or panics, and runs fn again (jittered backoff, bounded) when MySQL reports a deadlock
// (1213) or a lock wait timeout (1205), so those never reach a client. RetryCounts counts what happened.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	return InTxOpts(ctx, db, nil, fn)
}

// InTxOpts is InTx with transaction options (an isolation level other than the server's default).
func InTxOpts(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := runTx(ctx, db, opts, fn)
		if err == nil || !IsRetryable(err) {
			if attempt > 1 {
				recovered.Add(1)
			}
			return err
		}
		if attempt == MaxTxAttempts {
			exhausted.Add(1)
			return fmt.Errorf("transaction failed after %d attempts: %w", MaxTxAttempts, err)
		}
		retries.Add(1)
		backoff := time.Duration(attempt) * 5 * time.Millisecond
		backoff += time.Duration(rand.Int64N(int64(backoff) + 1))
		select {
		case <-ctx.Done():
			exhausted.Add(1)
			return errors.Join(ctx.Err(), err)
		case <-time.After(backoff):
		}
	}
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsRetryable reports a deadlock or lock wait timeout anywhere in err's chain.
func IsRetryable(err error) bool {
	return Is(err, ErrDeadlock) || Is(err, ErrLockWaitTimeout)
}

// Is reports whether err holds a MySQL error with number.
func Is(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}

// EscapeLike makes s match itself in a LIKE pattern written with ESCAPE '!': the escape character is not
// the backslash, so the pattern means the same whatever the server's NO_BACKSLASH_ESCAPES mode.
func EscapeLike(s string) string {
	return likeEscaper.Replace(s)
}

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// IsDuplicate reports a unique key violation.
func IsDuplicate(err error) bool { return Is(err, ErrDupEntry) }

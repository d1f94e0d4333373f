package sqldb

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"

	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/internal/apperr"
)

// ErrUnavailable is the answer to a request while the database cannot be reached (a restart, a
// failover, a full connection table): 503 with Retry-After, so that clients retry rather than take the
// failure for a final one.
var ErrUnavailable = apperr.Unavailable("DATABASE_UNAVAILABLE", "the database is unavailable, retry later")

// MySQL and MariaDB error numbers that mean the server cannot serve this connection now. The 2xxx
// numbers are client errors of the C client library; the Go driver reports those conditions as network
// errors or driver.ErrBadConn, which Unavailable recognises as well.
const (
	errTooManyConnections     = 1040
	errServerShutdown         = 1053
	errAbortingConnection     = 1152
	errNetReadError           = 1158
	errNetReadInterrupted     = 1159
	errNetErrorOnWrite        = 1160
	errNetWriteInterrupted    = 1161
	errTooManyUserConnections = 1203
	errConnectionKilled       = 1927 // MariaDB
	errClientInactivity       = 4031 // MySQL 8: disconnected by the server after an idle timeout
	errConnectionError        = 2002
	errConnHostError          = 2003
	errServerGone             = 2006
	errServerLost             = 2013
)

// Unavailable reports whether err says that the database could not be reached or would not serve: a
// refused, reset or timed-out connection, a connection the driver found broken, too many connections, a
// server shutting down, or the caller's deadline passing while waiting for the database. An error about
// the statement or the data (a duplicate key, a syntax error, access denied, an unknown database) is not.
func Unavailable(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		// Canceled is the caller giving up (a client hung up), not the database failing.
		return false
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		switch me.Number {
		case errTooManyConnections, errServerShutdown, errAbortingConnection, errNetReadError, errNetReadInterrupted,
			errNetErrorOnWrite, errNetWriteInterrupted, errTooManyUserConnections, errConnectionKilled, errClientInactivity,
			errConnectionError, errConnHostError, errServerGone, errServerLost:
			return true
		}
	}
	return false
}

// Translate is the last step of every store method: an error that Unavailable recognises becomes
// ErrUnavailable (wrapping it, for the log), and any other error is returned as it is. An application
// error (not found, conflict, ...) is never replaced, even when a connection error hides behind it.
func Translate(err error) error {
	if err == nil || apperr.As(err) != nil || !Unavailable(err) {
		return err
	}
	return ErrUnavailable.Wrap(err)
}

package sqldb

import "sync/atomic"

// The counters are process-wide because InTx is a package function: every store of the process shares
// them, and a metrics collector reads them at scrape time.
var (
	retries   atomic.Int64
	recovered atomic.Int64
	exhausted atomic.Int64
)

// Retries returns how many transactions InTx has run again after a deadlock or lock wait timeout
// since the process started.
func Retries() int64 { return retries.Load() }

// RetryStats counts, since the process started, what InTx did about deadlocks (1213) and lock wait
// timeouts (1205).
type RetryStats struct {
	// Retried is the number of attempts run again after one of those errors (Retries).
	Retried int64
	// Recovered is the number of transactions that hit one of those errors and then ended without
	// another: a later attempt committed or fn returned an answer of its own.
	Recovered int64
	// Exhausted is the number of transactions that returned one of those errors to the caller: the
	// attempts ran out, or ctx ended while waiting to retry.
	Exhausted int64
}

// RetryCounts returns the retry counters of InTx. Every transaction that hit a deadlock or lock wait
// timeout is counted once, as Recovered or Exhausted.
func RetryCounts() RetryStats {
	return RetryStats{Retried: retries.Load(), Recovered: recovered.Load(), Exhausted: exhausted.Load()}
}

package sqldb

import "sync/atomic"

var retries atomic.Int64

// Retries returns how many transactions InTx has run again after a deadlock or lock wait timeout
// since the process started.
func Retries() int64 { return retries.Load() }

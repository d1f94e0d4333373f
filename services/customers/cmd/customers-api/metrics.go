package main

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
)

// registry returns the process's metrics: runtime, database pool and transaction retries (the HTTP
// metrics join them through metrics.Instrument).
func registry(db *sql.DB) (*prometheus.Registry, error) {
	reg := metrics.NewRegistry()
	if err := metrics.RegisterDB(reg, db, "customers"); err != nil {
		return nil, err
	}
	reg.MustRegister(metrics.TxRetries())
	return reg, nil
}

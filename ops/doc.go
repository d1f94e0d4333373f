// Package ops holds the operations files of the backoffice, not Go code: the Prometheus scrape
// configurations (prometheus.yml for make run, prometheus-compose.yml for docker compose), the alerting
// rules (alerts.yml) and the Grafana dashboards and provisioning (grafana/). Its tests check them: the
// rules with the Prometheus rule parser and evaluated on made-up series, every PromQL expression parsed,
// and every metric name against the names the processes export.
package ops

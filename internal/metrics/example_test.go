package metrics_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/outbox"
)

// A process without a public port (here shaped like outbox-relay) wires its metrics in main: one
// registry, its database pool, the retry counters, the pollers, and the admin listener.
func Example_adminProcess() {
	run := func(ctx context.Context, getenv func(string) string, db *sql.DB, sqsClient *sqs.Client, log *slog.Logger) error {
		l := config.New(getenv)
		admin := metrics.LoadAdminConfig(l, "RELAY_ADMIN_ADDR", "127.0.0.1:9102")
		if err := l.Err(); err != nil {
			return err
		}

		reg := metrics.NewRegistry()
		if err := metrics.RegisterDB(reg, db, "orders"); err != nil {
			return err
		}
		reg.MustRegister(metrics.TxRetries())
		lag := metrics.NewOutboxLag(func(ctx context.Context) (int, time.Duration, int, error) {
			l, err := outbox.ReadLag(ctx, db)
			return l.Pending, l.Oldest, l.Parked, err
		}, metrics.PollOptions{Log: log})
		depth := metrics.NewQueueDepth(queue.NewDepthReader(sqsClient).Read, []string{"order-events", "order-events-dlq"}, metrics.PollOptions{Log: log})
		reg.MustRegister(lag, depth)
		go lag.Run(ctx)
		go depth.Run(ctx)

		ln, err := net.Listen("tcp", admin.Addr)
		if err != nil {
			return err
		}
		health := web.Health("outbox-relay", map[string]web.Check{"db": db.PingContext})
		return metrics.ServeAdmin(ctx, ln, metrics.AdminHandler(reg, health, admin.Pprof), log)
	}
	_ = run
}

// An API instruments its chi router and serves /metrics on its own port.
func Example_api() {
	routes := func(reg *prometheus.Registry, log *slog.Logger) http.Handler {
		r := web.NewRouter(log)
		r.Use(metrics.Middleware(reg))
		r.Method(http.MethodGet, "/metrics", metrics.Handler(reg))
		r.Get("/orders/{id}", func(w http.ResponseWriter, r *http.Request) {})
		return r
	}
	_ = routes(metrics.NewRegistry(), slog.Default())
}

// A service's main wraps its whole router instead: the routes stay as they are, and /metrics is
// answered ahead of their middleware (no token, no request log line).
func ExampleInstrument() {
	serve := func(ctx context.Context, ln net.Listener, routes http.Handler, log *slog.Logger) error {
		reg := metrics.NewRegistry()
		return web.Serve(ctx, ln, metrics.Instrument(reg, routes), log)
	}
	_ = serve
}

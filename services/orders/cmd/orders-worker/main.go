// Command orders-worker consumes PlaceOrder commands from the order-commands queue and creates and
// confirms each order with the same domain code as orders-api's REST routes.
//
// A command whose processing ends in a business answer (confirmed, or rejected with its reason) is acked;
// a transient failure (database, customers-api) is nacked, so SQS delivers it again after the visibility
// timeout, and the queue's redrive policy moves it to the dead-letter queue after 5 receives. Processing
// is idempotent by the command's key, so redeliveries and concurrent deliveries have the effect of one.
//
// The -exit-after-create flag exists for the crash-recovery tests only: the process exits between the
// create and the confirm transaction of the first order it creates.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	wmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
	"github.com/b2b/backoffice/services/orders/internal/ordermetrics"
	"github.com/b2b/backoffice/services/orders/internal/orderworker"
)

// exitCodeAfterCreate is the exit status of -exit-after-create, so a test can tell it from a failure.
const exitCodeAfterCreate = 75

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "orders-worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("orders-worker", flag.ContinueOnError)
	exitAfterCreate := fs.Bool("exit-after-create", false, "test only: exit between the create and the confirm transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	log := logging.New(out, "orders-worker", cfg.LogLevel)
	log.Info("starting", "config", cfg)

	db, err := sqldb.Open(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer db.Close()
	cust, err := customerclient.New(cfg.CustomersBase, cfg.ServiceToken, cfg.CustomersTimeout, nil)
	if err != nil {
		return fmt.Errorf("config: CUSTOMERS_API_BASE %v", err)
	}
	reg, stopAdmin, err := startMetrics(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	opts := []orderworker.Option{orderworker.WithMetrics(orderworker.NewMetrics(reg))}
	if *exitAfterCreate {
		opts = append(opts, orderworker.AfterCreate(func(orderID int64) {
			log.Warn("exiting after the create transaction (-exit-after-create)", "order_id", orderID)
			os.Exit(exitCodeAfterCreate)
		}))
	}
	w := orderworker.New(order.NewService(orderdb.New(db), cust, order.Config{Observer: ordermetrics.New(reg)}), log, opts...)

	sub, err := queue.NewSubscriber(cfg.SQS, log, queue.SubscriberOptions{
		VisibilityTimeout: cfg.Visibility,
		// One command per receive: a poison command is nacked until it reaches the dead-letter
		// queue, and in a batch every nack would count a receive against the commands behind it too.
		MaxMessages: 1,
		Workers:     cfg.Workers,
	})
	if err != nil {
		return err
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, queue.WatermillLogger(log))
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	// watermill's own: handler time by success, messages received by acked or nacked.
	wmetrics.NewPrometheusMetricsBuilder(reg, "watermill", "").AddPrometheusRouterMetrics(router)
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler("place-order", cfg.Queue, sub, w.Handle)

	// Run returns once ctx is done and in-flight commands have finished (or CloseTimeout passed).
	if err := router.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("router: %w", err)
	}
	log.Info("stopped")
	return nil
}

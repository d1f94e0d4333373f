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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
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
	svc := &order.Service{Store: orderdb.New(db), Customers: cust}
	if *exitAfterCreate {
		svc.AfterCreate = func() {
			log.Warn("exiting after the create transaction (-exit-after-create)")
			os.Exit(exitCodeAfterCreate)
		}
	}

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
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler("place-order", cfg.Queue, sub, handle(svc, log))

	// Run returns once ctx is done and in-flight commands have finished (or CloseTimeout passed).
	if err := router.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("router: %w", err)
	}
	log.Info("stopped")
	return nil
}

// handle processes one PlaceOrder. Its error nacks the message; nil acks it.
func handle(svc *order.Service, log *slog.Logger) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		start := time.Now()
		var cmd events.PlaceOrder
		decodeErr := json.Unmarshal(msg.Payload, &cmd)
		corr := msg.Metadata.Get(events.MetaCorrelationID)
		if corr == "" {
			corr = cmd.CorrelationID
		}
		if cmd.CorrelationID == "" {
			cmd.CorrelationID = corr
		}
		ctx := logging.WithLogger(msg.Context(), log)
		if corr != "" {
			ctx = logging.WithCorrelationID(ctx, corr)
		}
		mlog := logging.FromContext(ctx).With("message_id", msg.UUID, "idempotency_key", cmd.IdempotencyKey)
		if decodeErr != nil {
			// It can never succeed; nacking sends it to the dead-letter queue after 5 receives, where it
			// can be looked at, instead of dropping it.
			mlog.Error("place order: undecodable command", "error", decodeErr.Error(), "attr_idempotency_key", msg.Metadata.Get(events.MetaIdempotencyKey))
			return fmt.Errorf("decode PlaceOrder: %w", decodeErr)
		}
		err := svc.PlaceOrder(ctx, cmd)
		dur := float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			mlog.Warn("place order: transient failure, the command will be delivered again", "error", err.Error(), "duration_ms", dur)
			return err
		}
		mlog.Info("place order: command processed", "duration_ms", dur)
		return nil
	}
}

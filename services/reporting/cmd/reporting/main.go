// Command reporting consumes the order events of its SQS queue (REPORTING_EVENTS_QUEUE, subscribed to
// the order-events topic) into the reporting database, and serves the reports over HTTP on PORT (3004):
// GET /reports/..., /health and /openapi.yaml.
//
// Delivery is at least once and unordered; the projection is exact anyway (see package report): an
// event is applied together with its inbox row, in one transaction, and a snapshot replaces only an
// older one. How each message is answered is described on consumer.
//
// The -exit-after-effect flag exists for the crash tests only: the process exits inside the transaction
// of the first event it applies, after the effect and before the inbox row, so nothing commits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	wmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/reporting"
	"github.com/b2b/backoffice/services/reporting/internal/report"
	"github.com/b2b/backoffice/services/reporting/internal/reportapi"
	"github.com/b2b/backoffice/services/reporting/internal/reportdb"
)

// exitCodeAfterEffect is the exit status of -exit-after-effect, so a test can tell it from a failure.
const exitCodeAfterEffect = 75

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Args[1:]); err != nil {
		// One line, so whoever started the process sees at once what is wrong.
		fmt.Fprintln(os.Stderr, "reporting:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

// run starts the consumer and the HTTP server and blocks until ctx is done (then stops both gracefully)
// or one of them fails (then stops the other and returns its error).
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("reporting", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	exitAfterEffect := fs.Bool("exit-after-effect", false, "test only: exit inside the first event's transaction, before its inbox row")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, reportapi.Service, cfg.LogLevel)
	log.Info("starting", "config", cfg)

	db, err := sqldb.Open(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer db.Close()
	var opts []reportdb.Option
	if *exitAfterEffect {
		opts = append(opts, reportdb.AfterEffect(func() error {
			log.Warn("exiting inside the transaction, after the effect and before the inbox row (-exit-after-effect)")
			os.Exit(exitCodeAfterEffect)
			return nil
		}))
	}
	store := reportdb.New(db, opts...)
	svc := report.NewService(store)

	// The queue is infrastructure: a missing one is a set-up error, said once at start rather than
	// as the router's failure.
	client, err := queue.NewClient(ctx, cfg.SQS)
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = queue.URL(qctx, client, cfg.Queue)
	cancel()
	if err != nil {
		return fmt.Errorf("events %v (is REPORTING_EVENTS_QUEUE created at %q?)", err, cfg.SQS.Endpoint)
	}
	reg, err := registry(ctx, cfg, db, client, log)
	if err != nil {
		return err
	}
	sub, err := queue.NewSubscriber(cfg.SQS, log, queue.SubscriberOptions{
		VisibilityTimeout: cfg.Visibility,
		// One message per receive: a poison message is nacked until the redrive policy moves it to the
		// dead-letter queue, and watermill-aws abandons the rest of a batch on a nack, so in a batch every
		// one of its receives would also count against the valid events behind it.
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
	c := &consumer{svc: svc, log: log}
	// watermill's own: handler time, and messages received by acked or nacked (the consumer nacks a
	// failure itself rather than returning it, so failures show there, not as success="false").
	wmetrics.NewPrometheusMetricsBuilder(reg, "watermill", "").AddPrometheusRouterMetrics(router)
	router.AddMiddleware(c.middlewares()...)
	router.AddConsumerHandler("order-events", cfg.Queue, sub, c.handle)

	verifier, err := auth.New(ctx, cfg.Auth, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	h := reportapi.Routes(log, svc, verifier, store.Ping, reporting.OpenAPI)

	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	errc := make(chan error, 2)
	go func() { errc <- web.Serve(ctx, ln, metrics.Instrument(reg, h), log) }()
	go func() {
		// Run returns once ctx is done and the events in flight are finished (or CloseTimeout passed).
		err := router.Run(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("router: %w", err)
		} else {
			err = nil
		}
		errc <- err
	}()
	first := <-errc
	stopAll()
	second := <-errc
	if err := errors.Join(first, second); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

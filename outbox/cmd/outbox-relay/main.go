// Command outbox-relay moves committed events from the orders database's outbox to the SNS topic
// ORDER_EVENTS_TOPIC (default order-events), which fans them out to one queue per consumer. Several may
// run at once. See packages outbox and outbox/relay.
//
//	outbox-relay                    run the relay
//	outbox-relay parked             list parked events (one JSON object a line)
//	outbox-relay release OFFSET...  put parked events back in line with a fresh attempt count
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox/relay"
)

const service = "outbox-relay"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		// One line, so whoever started the process sees at once what is wrong.
		fmt.Fprintln(os.Stderr, service+":", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return admin(ctx, cfg, args, stdout)
	}
	log := logging.New(stdout, service, cfg.LogLevel)
	log.Info("starting", "config", cfg)

	dbc := cfg.DB
	dbc.MultiStatements = true // the relay deletes a chunk of delivered rows in one round trip
	db, err := sqldb.Open(ctx, dbc, log)
	if err != nil {
		return err
	}
	defer db.Close()
	reg, stopAdmin, err := startMetrics(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	defer stopAdmin()

	topic, err := waitForTopic(ctx, cfg, log)
	if err != nil || ctx.Err() != nil {
		return err
	}
	log.Info("destination topic found", "topic", cfg.Topic, "arn", topic.Destination())
	r, err := relay.New(db, topic, relay.Options{
		BatchSize:    cfg.BatchSize,
		Lanes:        cfg.Lanes,
		PollInterval: cfg.PollInterval,
		MaxAttempts:  cfg.MaxAttempts,
		MaxBackoff:   cfg.MaxBackoff,
		LagInterval:  cfg.LagInterval,
		Log:          log,
		Metrics:      relay.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// waitForTopic resolves the destination topic, waiting (capped backoff, one log line) while SNS is
// unreachable, so the relay can start before goaws or LocalStack. A topic SNS says does not exist is
// still waited for — the infrastructure may be creating it — but logged as such.
func waitForTopic(ctx context.Context, cfg config, log *slog.Logger) (*queue.Topic, error) {
	wait := 200 * time.Millisecond
	logged := false
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		topic, err := queue.NewTopic(cctx, cfg.SQS, cfg.Topic)
		cancel()
		if err == nil {
			return topic, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if !logged {
			log.Warn("destination topic not reachable yet: retrying", "topic", cfg.Topic, "error", err.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
		wait = min(wait*2, cfg.MaxBackoff)
	}
}

// admin runs the parked and release subcommands.
func admin(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	var offsets []int64
	switch args[0] {
	case "parked":
		if len(args) != 1 {
			return errors.New("usage: outbox-relay parked")
		}
	case "release":
		if len(args) < 2 {
			return errors.New("usage: outbox-relay release OFFSET [OFFSET]")
		}
		for _, a := range args[1:] {
			n, err := strconv.ParseInt(a, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("release: %q is not an outbox offset", a)
			}
			offsets = append(offsets, n)
		}
	default:
		return fmt.Errorf("unknown command %q (want parked or release)", args[0])
	}
	db, err := sqldb.Open(ctx, cfg.DB, logging.New(io.Discard, service, "error"))
	if err != nil {
		return err
	}
	defer db.Close()
	enc := json.NewEncoder(stdout)
	if args[0] == "parked" {
		parked, err := relay.Parked(ctx, db)
		if err != nil {
			return err
		}
		for _, p := range parked {
			_ = enc.Encode(map[string]any{"offset": p.Offset, "event_id": p.EventID, "event_type": p.EventType,
				"parked_at": p.ParkedAt, "attempts": p.Attempts, "last_error": p.LastError})
		}
		return nil
	}
	for _, off := range offsets {
		ok, err := relay.Release(ctx, db, off)
		if err != nil {
			return err
		}
		_ = enc.Encode(map[string]any{"offset": off, "released": ok})
	}
	return nil
}

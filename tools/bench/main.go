// Command bench is the load harness of the backoffice. It starts what it needs on this machine (fresh
// databases on the MySQL/MariaDB server, goaws with the repository's SQS/SNS topology, the real binaries
// on free ports), or attaches to a running stack, and drives the system only from the outside: HTTP, SQL
// and SQS. For each workload it reports throughput, latency percentiles, errors by class, and the CPU
// time and memory of every process (MariaDB and the harness included), as a table on stdout and as JSON.
//
//	go run ./tools/bench                                  every workload, defaults (under ~10 min on 2 cores)
//	go run ./tools/bench -workloads order-create -duration 60s
//	go run ./tools/bench -bin /path/to/old-checkout/bin   binaries built from another commit
//
// Workloads: order-create (and its raw database/sql twin), hot-product (and its twin), relay (drain of a
// pre-loaded outbox against raw SendMessageBatch, then backlog and lag under load), create-and-confirm
// (through the orchestrator and directly over REST, with the time broken down). See -help.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is one run of the harness: what it started and what it seeded.
type bench struct {
	o      options
	root   string
	tmp    string
	binDir string
	env    map[string]string // environment of every started process, before per-process settings
	stderr io.Writer
	logMu  sync.Mutex // progress lines come from several goroutines

	server  *serverConfig
	admin   *sql.DB // server connection for creating and dropping databases
	runID   string
	dbs     map[string]string // schema → bench database
	created []string          // databases to drop at the end
	dbPID   int               // the database server's process, 0 when not on this machine

	goaws *process
	sqs   *sqsInfo
	// sentTimestampOK says whether SentTimestamp is the send time on this SQS (nil: unknown).
	sentTimestampOK *bool
	procs           []*process
	urls            map[string]string

	customersDB string  // database holding the customers table (the raw twin reads it)
	ordersDB    string  // database holding products, orders and the outbox
	orders      *sql.DB // raw twin's pool on the orders database: interpolated parameters
	customerIDs []int64
	productIDs  []int64

	api *apiClient
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	o, err := parseOptions(args, root, getenv, stderr)
	if err != nil {
		return err
	}
	fileEnv, err := readEnvFile(o.envFile)
	if err != nil {
		return err
	}
	srv, err := serverDSN(o.dbDSN, getenv, fileEnv)
	if err != nil {
		return err
	}
	b := &bench{o: o, root: root, env: baseEnv(fileEnv), stderr: stderr, server: &serverConfig{cfg: srv},
		dbs: map[string]string{}, urls: map[string]string{}, runID: newRunID()}
	rep := newReport(b)

	defer b.cleanup()
	if err := b.setup(ctx); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	rep.describe(ctx, b)
	for _, name := range o.workloads {
		if ctx.Err() != nil {
			rep.Workloads = append(rep.Workloads, Workload{Name: name, Error: "not run: interrupted"})
			continue
		}
		b.logf("workload %s", name)
		rep.Workloads = append(rep.Workloads, b.runWorkload(ctx, name))
	}
	rep.finish()
	rep.writeTable(stdout)
	if err := rep.writeJSON(o.jsonPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nJSON: %s\nprocess logs: %s\n", o.jsonPath, o.logsDir)
	return nil
}

func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logf reports progress on stderr, so stdout carries only the results.
func (b *bench) logf(format string, args ...any) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	fmt.Fprintf(b.stderr, "bench %s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// setup prepares the databases, seeds them, and starts the stack (or finds the attached one).
func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "backoffice-bench-"); err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	if err := os.RemoveAll(b.o.logsDir); err != nil {
		return fmt.Errorf("empty logs directory: %w", err)
	}
	if err := os.MkdirAll(b.o.logsDir, 0o755); err != nil {
		return fmt.Errorf("logs directory: %w", err)
	}
	if b.admin, err = b.server.open(ctx, "", false, 4); err != nil {
		return err
	}
	if b.isLocalServer() {
		b.dbPID = findPID("mariadbd", "mysqld")
	}
	bearer, err := b.bearer()
	if err != nil {
		return err
	}
	b.api = newAPIClient(b.o.clients, bearer)
	if b.o.attach {
		err = b.setupAttached(ctx)
	} else {
		err = b.setupStack(ctx)
	}
	if err != nil {
		return err
	}
	if ok, err := b.sqs.checkSentTimestamp(ctx); err != nil {
		b.logf("%v", err)
	} else {
		b.sentTimestampOK = &ok
	}
	return nil
}

// setupStack builds or finds the binaries, creates and seeds the databases, and starts goaws and the
// stack.
func (b *bench) setupStack(ctx context.Context) error {
	var err error

	b.binDir = b.o.binDir
	if b.binDir == "" {
		b.binDir = filepath.Join(b.tmp, "bin")
		b.logf("building the current tree's binaries (make build BIN=%s)", b.binDir)
		if err := buildBinaries(ctx, b.root, b.binDir); err != nil {
			return err
		}
	}
	b.logf("creating databases bench_%s_*", b.runID)
	if b.customersDB, err = b.database(ctx, "customers"); err != nil {
		return err
	}
	if b.ordersDB, err = b.database(ctx, "orders"); err != nil {
		return err
	}
	if err := b.seed(ctx, b.server.dsn(b.customersDB, false), b.server.dsn(b.ordersDB, false)); err != nil {
		return err
	}
	if err := b.startGoaws(ctx); err != nil {
		return err
	}
	if err := b.resolveQueues(); err != nil {
		return err
	}
	if err := b.startStack(ctx); err != nil {
		return err
	}
	b.orders, err = b.server.open(ctx, b.ordersDB, true, b.o.clients)
	return err
}

// setupAttached points the harness at a running stack. Seeded rows are tagged with the run id and left
// in place: the harness drops nothing it did not create.
func (b *bench) setupAttached(ctx context.Context) error {
	b.urls = map[string]string{"customers-api": b.o.customersURL, "orders-api": b.o.ordersURL, "orchestrator": b.o.orchestratorURL}
	customersDSN, ordersDSN := b.o.customersDSN, b.o.ordersDSN
	if customersDSN == "" {
		customersDSN = b.server.dsn("customers", false)
	}
	if ordersDSN == "" {
		ordersDSN = b.server.dsn("orders", false)
	}
	for _, d := range []struct {
		dsn  string
		name *string
	}{{customersDSN, &b.customersDB}, {ordersDSN, &b.ordersDB}} {
		c, err := mysql.ParseDSN(d.dsn)
		if err != nil {
			return fmt.Errorf("attached database DSN: %w", err)
		}
		*d.name = c.DBName
	}
	if err := b.seed(ctx, customersDSN, ordersDSN); err != nil {
		return err
	}
	src, err := os.ReadFile(b.o.goawsConfig)
	if err != nil {
		return fmt.Errorf("read goaws config: %w", err)
	}
	topo, err := readTopology(src)
	if err != nil {
		return err
	}
	b.sqs = newSQS(b.o.sqsEndpoint, topo)
	if err := b.resolveQueues(); err != nil {
		return err
	}
	c, _ := mysql.ParseDSN(ordersDSN)
	c.InterpolateParams = true
	b.orders, err = openDSN(ctx, c.FormatDSN(), b.o.clients)
	return err
}

// seed loads the customers and products every workload orders from.
func (b *bench) seed(ctx context.Context, customersDSN, ordersDSN string) error {
	b.logf("seeding %d customers and %d products", b.o.customers, b.o.products)
	cdb, err := openDSN(ctx, customersDSN, 2)
	if err != nil {
		return err
	}
	defer cdb.Close()
	if b.customerIDs, err = seedCustomers(ctx, cdb, b.o.customers, b.runID); err != nil {
		return err
	}
	odb, err := openDSN(ctx, ordersDSN, 2)
	if err != nil {
		return err
	}
	defer odb.Close()
	if b.productIDs, err = seedProducts(ctx, odb, b.o.products, b.runID); err != nil {
		return err
	}
	if len(b.customerIDs) != b.o.customers || len(b.productIDs) != b.o.products {
		return fmt.Errorf("seed: read back %d customers and %d products, want %d and %d",
			len(b.customerIDs), len(b.productIDs), b.o.customers, b.o.products)
	}
	return nil
}

func (b *bench) isLocalServer() bool {
	if b.server.cfg.Net == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(b.server.cfg.Addr)
	if err != nil {
		return false
	}
	return host == "127.0.0.1" || host == "localhost" || host == "::1"
}

// cleanup stops every started process (the callers of a service first), drops the bench databases and
// removes temporary files. It runs however the run ends.
func (b *bench) cleanup() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].stop(10 * time.Second)
	}
	b.goaws.stop(5 * time.Second)
	if b.orders != nil {
		b.orders.Close()
	}
	if b.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, name := range append([]string(nil), b.created...) {
			if err := b.dropDatabase(ctx, name); err != nil {
				b.logf("%v", err)
			}
		}
		b.admin.Close()
	}
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

// targets are the processes measured in every phase.
func (b *bench) targets(extra ...*process) []target {
	var ts []target
	if b.o.attach {
		var names []string
		for name := range b.o.pids {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			pid := b.o.pids[name]
			ts = append(ts, target{name: name, pid: func() int { return pid }})
		}
	}
	for _, p := range b.procs {
		ts = append(ts, target{name: p.name, pid: p.pid})
	}
	for _, p := range extra {
		ts = append(ts, target{name: p.name, pid: p.pid})
	}
	if b.goaws != nil {
		ts = append(ts, target{name: "goaws", pid: b.goaws.pid})
	}
	if b.dbPID != 0 {
		pid := b.dbPID
		ts = append(ts, target{name: "mariadbd", pid: func() int { return pid }})
	}
	self := os.Getpid()
	ts = append(ts, target{name: "bench (load)", pid: func() int { return self }})
	return ts
}

// runWorkload runs one workload; a failure (or a panic) is recorded in it and the run goes on.
func (b *bench) runWorkload(ctx context.Context, name string) (w Workload) {
	w.Name = name
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			w.Error = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
		}
		w.Seconds = round(time.Since(start).Seconds(), 1)
		if err := b.checkStack(); err != nil {
			w.Error = strings.TrimSpace(w.Error + "\n" + err.Error())
		}
		if w.Error != "" {
			b.logf("workload %s failed: %s", name, w.Error)
		}
	}()
	if err := b.checkStack(); err != nil {
		w.Error = "not run: " + err.Error()
		return w
	}
	// Each workload starts with empty queues: goaws keeps messages in memory, and every receive and its
	// periodic visibility scan walk the whole queue. An attached stack's queues are left alone.
	if !b.o.attach {
		if err := b.sqs.purgeAll(ctx); err != nil {
			w.Error = err.Error()
			return w
		}
	}
	var err error
	switch name {
	case wlOrderCreate:
		err = b.orderCreate(ctx, &w)
	case wlHotProduct:
		err = b.hotProduct(ctx, &w)
	case wlRelay:
		err = b.relay(ctx, &w)
	case wlCreateAndConfirm:
		err = b.createAndConfirm(ctx, &w)
	default:
		err = fmt.Errorf("unknown workload %q", name)
	}
	if err != nil {
		w.Error = err.Error()
	}
	if ctx.Err() != nil && w.Error == "" {
		w.Error = "interrupted"
	}
	return w
}

// apiClient calls the services over HTTP with connections kept alive for every client.
type apiClient struct {
	http   *http.Client
	bearer string
}

func newAPIClient(clients int, bearer string) *apiClient {
	t := &http.Transport{
		MaxIdleConns:        4 * (clients + 16),
		MaxIdleConnsPerHost: clients + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &apiClient{http: &http.Client{Transport: t, Timeout: 30 * time.Second}, bearer: bearer}
}

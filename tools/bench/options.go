package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Workload names, in the order they run.
const (
	wlOrderCreate      = "order-create"
	wlHotProduct       = "hot-product"
	wlRelay            = "relay"
	wlCreateAndConfirm = "create-and-confirm"
)

var allWorkloads = []string{wlOrderCreate, wlHotProduct, wlRelay, wlCreateAndConfirm}

// defaultServerDSN is the server the tests use unless TEST_DB_DSN says otherwise (see internal/dbtest).
const defaultServerDSN = "backoffice:backoffice@tcp(127.0.0.1:3306)/"

// options are the command line.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	clients     int
	rounds      int
	workloads   []string
	jsonPath    string
	logsDir     string
	binDir      string
	dbDSN       string
	rate        float64
	relayRate   float64
	relayEvents int
	products    int
	customers   int
	envFile     string
	goawsConfig string

	// Attach mode: an already running stack, nothing is started or dropped.
	attach          bool
	customersURL    string
	ordersURL       string
	orchestratorURL string
	sqsEndpoint     string
	customersDSN    string
	ordersDSN       string
	pids            map[string]int
	orchestratorLog string
	workerLog       string

	bearer string
}

// parseOptions reads the command line. root is the module root: relative default paths hang off it.
func parseOptions(args []string, root string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./tools/bench [flags]\n\nWorkloads: %s.\n\n", strings.Join(allWorkloads, ", "))
		fs.PrintDefaults()
	}
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measured time of each phase of a workload (a workload has several phases)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each load phase")
	fs.IntVar(&o.clients, "clients", 16, "closed-loop clients of order-create, hot-product and the relay's producer load (and connections of the raw twins)")
	fs.IntVar(&o.rounds, "rounds", 1, "interleaved rounds (API, raw, API, raw, ...) of order-create and hot-product; the median round of each is reported")
	workloads := fs.String("workloads", strings.Join(allWorkloads, ","), "comma-separated workloads to run")
	fs.StringVar(&o.jsonPath, "json", "bin/bench-results.json", "where to write every figure as JSON (relative to the module root)")
	fs.StringVar(&o.logsDir, "logs", "bin/bench-logs", "directory for the output of every started process (emptied first; relative to the module root)")
	fs.StringVar(&o.binDir, "bin", "", "directory of prebuilt binaries (`make build BIN=dir` in any checkout); default: build the current tree into a temporary directory")
	fs.StringVar(&o.dbDSN, "db-dsn", "", "MySQL/MariaDB server DSN without a database (default: TEST_DB_DSN, else DB_* of the env file, else "+defaultServerDSN+")")
	fs.Float64Var(&o.rate, "rate", 20, "requests/s of the fixed-rate create-and-confirm phase")
	fs.Float64Var(&o.relayRate, "relay-rate", 0, "orders/s of the relay's steady producer load; 0 means closed loop with -clients")
	fs.IntVar(&o.relayEvents, "relay-events", 100_000, "events pre-loaded into the outbox for the relay drain")
	fs.IntVar(&o.products, "products", 1000, "products seeded (each with ample stock)")
	fs.IntVar(&o.customers, "customers", 1000, "customers seeded")
	fs.StringVar(&o.envFile, "env", "", "environment file for the started processes (default .env if present, else .env.example)")
	fs.StringVar(&o.goawsConfig, "goaws-config", "localstack/goaws.yaml", "goaws configuration the local SQS/SNS topology is derived from")

	fs.BoolVar(&o.attach, "attach", false, "use an already running stack given by the flags below; start and drop nothing")
	fs.StringVar(&o.customersURL, "customers-url", "http://127.0.0.1:3001", "attach: customers-api base URL")
	fs.StringVar(&o.ordersURL, "orders-url", "http://127.0.0.1:3002", "attach: orders-api base URL")
	fs.StringVar(&o.orchestratorURL, "orchestrator-url", "http://127.0.0.1:3003", "attach: orchestrator base URL")
	fs.StringVar(&o.sqsEndpoint, "sqs-endpoint", "http://127.0.0.1:4100", "attach: SQS endpoint (goaws)")
	fs.StringVar(&o.customersDSN, "customers-dsn", "", "attach: DSN of the customers database (default: -db-dsn with database customers)")
	fs.StringVar(&o.ordersDSN, "orders-dsn", "", "attach: DSN of the orders database (default: -db-dsn with database orders)")
	pids := fs.String("pids", "", "attach: processes to measure, name=pid,... (MariaDB is found by itself)")
	fs.StringVar(&o.orchestratorLog, "orchestrator-log", "", "attach: file the orchestrator logs to (for the create-and-confirm breakdown)")
	fs.StringVar(&o.workerLog, "worker-log", "", "attach: file orders-worker logs to (for the create-and-confirm breakdown)")
	fs.StringVar(&o.bearer, "bearer", "", "access token sent on public routes (default: a dev token signed with the env file's AUTH_HS256_SECRET, AUTH_ISSUER and AUTH_AUDIENCE)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}

	for _, w := range strings.Split(*workloads, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if !slices.Contains(allWorkloads, w) {
			return options{}, fmt.Errorf("-workloads: unknown workload %q (want some of %s)", w, strings.Join(allWorkloads, ","))
		}
		if !slices.Contains(o.workloads, w) {
			o.workloads = append(o.workloads, w)
		}
	}
	if len(o.workloads) == 0 {
		return options{}, errors.New("-workloads: none given")
	}
	// Run in the documented order whatever order they were named in.
	slices.SortFunc(o.workloads, func(a, b string) int { return slices.Index(allWorkloads, a) - slices.Index(allWorkloads, b) })

	switch {
	case o.duration <= 0:
		return options{}, errors.New("-duration must be positive")
	case o.warmup < 0:
		return options{}, errors.New("-warmup must not be negative")
	case o.clients < 1:
		return options{}, errors.New("-clients must be at least 1")
	case o.rounds < 1:
		return options{}, errors.New("-rounds must be at least 1")
	case o.rate <= 0:
		return options{}, errors.New("-rate must be positive")
	case o.relayRate < 0:
		return options{}, errors.New("-relay-rate must not be negative")
	case o.relayEvents < 1:
		return options{}, errors.New("-relay-events must be at least 1")
	case o.products < 3:
		return options{}, errors.New("-products must be at least 3 (orders have up to 3 distinct lines)")
	case o.customers < 1:
		return options{}, errors.New("-customers must be at least 1")
	}

	var err error
	if o.pids, err = parsePIDs(*pids); err != nil {
		return options{}, err
	}
	for _, p := range []*string{&o.jsonPath, &o.logsDir, &o.binDir, &o.envFile, &o.goawsConfig, &o.orchestratorLog, &o.workerLog} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
	}
	if o.envFile == "" {
		o.envFile = filepath.Join(root, ".env.example")
		if _, err := os.Stat(filepath.Join(root, ".env")); err == nil {
			o.envFile = filepath.Join(root, ".env")
		}
	}
	return o, nil
}

func parsePIDs(s string) (map[string]int, error) {
	m := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		name, v, ok := strings.Cut(kv, "=")
		var pid int
		if _, err := fmt.Sscan(v, &pid); !ok || err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pids: %q is not name=pid", kv)
		}
		m[strings.TrimSpace(name)] = pid
	}
	return m, nil
}

// readEnvFile reads KEY=VALUE lines (comments and blank lines skipped, optional quotes removed), the
// format make includes.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return env, nil
}

// serverDSN resolves the database server: -db-dsn, else TEST_DB_DSN, else the DB_* parts of the env file,
// else the tests' default. The result names no database.
func serverDSN(flagDSN string, getenv func(string) string, fileEnv map[string]string) (*mysql.Config, error) {
	dsn := flagDSN
	if dsn == "" {
		dsn = getenv("TEST_DB_DSN")
	}
	if dsn == "" && fileEnv["DB_HOST"] != "" {
		port := fileEnv["DB_PORT"]
		if port == "" {
			port = "3306"
		}
		dsn = fmt.Sprintf("%s:%s@tcp(%s:%s)/", fileEnv["DB_USER"], fileEnv["DB_PASSWORD"], fileEnv["DB_HOST"], port)
	}
	if dsn == "" {
		dsn = defaultServerDSN
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("database server DSN: %w", err)
	}
	cfg.DBName = ""
	return cfg, nil
}

// moduleRoot is the directory holding go.mod, at or above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory: run from inside the module")
		}
		dir = parent
	}
}

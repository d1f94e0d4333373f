package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2b/backoffice/db"
	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/sqstest"
)

const (
	token        = "e2e-service-token"
	commandQueue = "order-commands"
)

// bin holds the binaries built once for the package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orchestrator-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bin = dir
		return m.Run()
	}()
	os.Exit(code)
}

// build compiles every process the tests start, in one go build: the services, the local runner, the
// Lambda bootstrap for this machine's architecture and the Runtime Interface Emulator (a go.mod tool).
func build(dir string) error {
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", dir+string(os.PathSeparator),
		"github.com/b2b/backoffice/services/customers/cmd/customers-api",
		"github.com/b2b/backoffice/services/orders/cmd/orders-api",
		"github.com/b2b/backoffice/services/orders/cmd/orders-worker",
		"github.com/b2b/backoffice/services/reporting/cmd/reporting",
		"github.com/b2b/backoffice/outbox/cmd/outbox-relay",
		"github.com/b2b/backoffice/lambda/orchestrator/cmd/local",
		"github.com/b2b/backoffice/lambda/orchestrator/cmd/lambda",
		"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie",
	)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build binaries: %v\n%s", err, out)
	}
	return nil
}

// proc is one started binary.
type proc struct {
	t    *testing.T
	name string
	args []string
	env  []string
	out  *proctest.Buffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	code int
}

func newProc(t *testing.T, name string, env map[string]string, args ...string) *proc {
	p := &proc{t: t, name: name, args: args, out: &proctest.Buffer{}}
	p.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			out := p.out.String()
			if len(out) > 6000 {
				out = "…" + out[len(out)-6000:]
			}
			t.Logf("%s output:\n%s", p.name, out)
		}
	})
	return p
}

// start runs the binary; a process that was stopped can be started again with the same settings.
func (p *proc) start() *proc {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(bin, p.name), p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.code = cmd.ProcessState.ExitCode()
		p.mu.Unlock()
		close(done)
	}()
	return p
}

// stop sends SIGTERM and waits for a graceful exit (SIGKILL after 15 s).
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// exited waits up to timeout for the process to exit by itself and returns its exit code.
func (p *proc) exited(timeout time.Duration) (int, bool) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		p.cmd = nil
		return p.code, true
	case <-time.After(timeout):
		return 0, false
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHealthy polls url until it answers 200.
func waitHealthy(t *testing.T, p *proc, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if _, gone := p.exited(0); gone {
			t.Fatalf("%s exited before it was healthy:\n%s", p.name, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not healthy at %s within 30s:\n%s", p.name, url, p.out.String())
}

// stack is the whole create-and-confirm system for one test.
type stack struct {
	t           *testing.T
	customersDB *dbtest.DB
	ordersDB    *dbtest.DB
	sqs         *sqstest.Server

	customers, orders, worker, orch *proc
	customersURL, ordersURL         string
	orchURL                         string
	// relay and reporting run with stackOptions.events.
	relay, reporting *proc
	reportingURL     string
	// OrchCustomersBase and OrchOrdersBase are the bases the orchestrator was given.
	orchCustomersBase, orchOrdersBase string
	workerEnv                         map[string]string

	// tapped are the events read from the tap queue so far, by aggregate id.
	tapped map[string][]events.Envelope
}

type stackOptions struct {
	wait time.Duration
	// stage puts a /dev stage in front of both APIs for the orchestrator, through a recording proxy.
	stage *stageProxy
	// noWorker leaves the worker stopped.
	noWorker bool
	// events adds the event side: the order-events topic with reporting's queue and the tap subscribed
	// to it, outbox-relay and reporting.
	events bool
	// env is added to every process's environment.
	env map[string]string
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{t: t}
	s.customersDB = dbtest.New(t, "customers")
	s.ordersDB = dbtest.New(t, "orders")
	if err := db.Seed(ctx, s.customersDB.DB, "customers"); err != nil {
		t.Fatalf("seed customers: %v", err)
	}
	if err := db.Seed(ctx, s.ordersDB.DB, "orders"); err != nil {
		t.Fatalf("seed orders: %v", err)
	}
	sqsOpts := sqstest.Options{VisibilityTimeout: 2 * time.Second}
	if o.events {
		sqsOpts.Topics = map[string][]string{eventsTopic: {reportingQueue, tapQueue}}
	}
	s.sqs = sqstest.StartWith(t, sqsOpts, commandQueue)
	sqsCfg := s.sqs.Config()
	aws := map[string]string{
		"AWS_REGION": sqsCfg.Region, "AWS_ENDPOINT_URL": sqsCfg.Endpoint,
		"AWS_ACCESS_KEY_ID": sqsCfg.AccessKeyID, "AWS_SECRET_ACCESS_KEY": sqsCfg.SecretAccessKey,
	}

	cport := freePort(t)
	s.customersURL = "http://127.0.0.1:" + strconv.Itoa(cport)
	// The APIs and reporting verify the tests' access tokens (authtest); the worker, the relay and the local
	// orchestrator need none.
	s.customers = newProc(t, "customers-api", merge(o.env, authtest.EnvMap(), map[string]string{
		"PORT": strconv.Itoa(cport), "DB_DSN": s.customersDB.DSN, "SERVICE_TOKEN": token, "LOG_LEVEL": "info",
	})).start()

	oport := freePort(t)
	s.ordersURL = "http://127.0.0.1:" + strconv.Itoa(oport)
	s.orders = newProc(t, "orders-api", merge(o.env, authtest.EnvMap(), map[string]string{
		"PORT": strconv.Itoa(oport), "DB_DSN": s.ordersDB.DSN, "SERVICE_TOKEN": token,
		"CUSTOMERS_API_BASE": s.customersURL, "LOG_LEVEL": "info",
	})).start()

	s.workerEnv = merge(o.env, aws, map[string]string{
		"DB_DSN": s.ordersDB.DSN, "SERVICE_TOKEN": token, "ORDER_COMMANDS_QUEUE": commandQueue,
		// A trailing slash on purpose: bases are joined with a URL library, never concatenated.
		"CUSTOMERS_API_BASE":                s.customersURL + "/",
		"ORDER_COMMANDS_VISIBILITY_TIMEOUT": "2s", "WORKER_CONCURRENCY": "4", "LOG_LEVEL": "info",
		"WORKER_ADMIN_ADDR": "127.0.0.1:0",
	})
	s.worker = newProc(t, "orders-worker", s.workerEnv)
	if !o.noWorker {
		s.worker.start()
	}

	s.orchCustomersBase, s.orchOrdersBase = s.customersURL, s.ordersURL
	if o.stage != nil {
		s.orchCustomersBase = o.stage.front(t, s.customersURL) + "/dev"
		s.orchOrdersBase = o.stage.front(t, s.ordersURL) + "/dev/"
	}
	wait := o.wait
	if wait == 0 {
		wait = 8 * time.Second
	}
	hport := freePort(t)
	s.orchURL = "http://127.0.0.1:" + strconv.Itoa(hport)
	s.orch = newProc(t, "local", merge(o.env, aws, map[string]string{
		"PORT": strconv.Itoa(hport), "SERVICE_TOKEN": token, "ORDER_COMMANDS_QUEUE": commandQueue,
		"CUSTOMERS_API_BASE": s.orchCustomersBase, "ORDERS_API_BASE": s.orchOrdersBase,
		"ORDER_WAIT_TIMEOUT": wait.String(), "LOG_LEVEL": "info",
	})).start()

	waitHealthy(t, s.customers, s.customersURL+"/health")
	waitHealthy(t, s.orders, s.ordersURL+"/health")
	waitHealthy(t, s.orch, s.orchURL+"/health")
	if o.events {
		s.startEvents(aws, o.env)
	}
	return s
}

// Names of the event side's topic and queues (each queue with its "-dlq").
const (
	eventsTopic    = "order-events"
	reportingQueue = "reporting-order-events"
	tapQueue       = "order-events-tap"
)

// startEvents starts outbox-relay and reporting on the stack's orders database and goaws.
func (s *stack) startEvents(aws, env map[string]string) {
	t := s.t
	t.Helper()
	reportingDB := dbtest.New(t, "reporting")
	s.relay = newProc(t, "outbox-relay", merge(env, aws, map[string]string{
		"DB_DSN": s.ordersDB.DSN, "ORDER_EVENTS_TOPIC": eventsTopic,
		"REPORTING_EVENTS_QUEUE": reportingQueue, "ORDER_EVENTS_TAP_QUEUE": tapQueue,
		"OUTBOX_POLL_INTERVAL": "50ms", "OUTBOX_MAX_BACKOFF": "1s", "RELAY_ADMIN_ADDR": "127.0.0.1:0", "LOG_LEVEL": "info",
	})).start()
	rport := freePort(t)
	s.reportingURL = "http://127.0.0.1:" + strconv.Itoa(rport)
	s.reporting = newProc(t, "reporting", merge(env, aws, authtest.EnvMap(), map[string]string{
		"PORT": strconv.Itoa(rport), "DB_DSN": reportingDB.DSN, "REPORTING_EVENTS_QUEUE": reportingQueue,
		"REPORTING_EVENTS_VISIBILITY_TIMEOUT": "2s", "LOG_LEVEL": "info",
	})).start()
	waitHealthy(t, s.relay, adminURL(t, s.relay)+"/health")
	waitHealthy(t, s.reporting, s.reportingURL+"/health")
}

// adminURL is the base URL of p's admin listener (started on port 0), from its last "admin listening"
// line (a restarted process logs a new one).
func adminURL(t *testing.T, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		addr := ""
		for _, l := range strings.Split(p.out.String(), "\n") {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &m) == nil && m.Msg == "admin listening" && m.Addr != "" {
				addr = m.Addr
			}
		}
		if addr != "" {
			return "http://" + addr
		}
		if _, gone := p.exited(0); gone {
			t.Fatalf("%s exited before its admin listener started:\n%s", p.name, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: no admin listener within 30s:\n%s", p.name, p.out.String())
	return ""
}

// lambdaEnv is the orchestrator's environment, for the Lambda bootstrap.
func (s *stack) lambdaEnv(wait time.Duration) map[string]string {
	c := s.sqs.Config()
	return map[string]string{
		"AWS_REGION": c.Region, "AWS_ENDPOINT_URL": c.Endpoint,
		"AWS_ACCESS_KEY_ID": c.AccessKeyID, "AWS_SECRET_ACCESS_KEY": c.SecretAccessKey,
		"SERVICE_TOKEN": token, "ORDER_COMMANDS_QUEUE": commandQueue,
		"CUSTOMERS_API_BASE": s.orchCustomersBase, "ORDERS_API_BASE": s.orchOrdersBase,
		"ORDER_WAIT_TIMEOUT": wait.String(), "LOG_LEVEL": "info",
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// answer is a decoded orchestrator response.
type answer struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   struct {
		Success       bool            `json:"success"`
		CorrelationID string          `json:"correlationId"`
		Data          json.RawMessage `json:"data"`
		Error         *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []any  `json:"details"`
		} `json:"error"`
	}
	Took time.Duration
}

type orderData struct {
	Customer struct {
		ID    int64   `json:"id"`
		Name  string  `json:"name"`
		Email string  `json:"email"`
		Phone *string `json:"phone"`
	} `json:"customer"`
	Order struct {
		ID         int64  `json:"id"`
		Status     string `json:"status"`
		TotalCents int64  `json:"total_cents"`
		Items      []struct {
			ProductID      int64 `json:"product_id"`
			Qty            int   `json:"qty"`
			UnitPriceCents int64 `json:"unit_price_cents"`
			SubtotalCents  int64 `json:"subtotal_cents"`
		} `json:"items"`
		CreatedAt   time.Time  `json:"created_at"`
		ConfirmedAt *time.Time `json:"confirmed_at"`
	} `json:"order"`
}

func (a answer) order(t *testing.T) orderData {
	t.Helper()
	var d orderData
	if err := json.Unmarshal(a.Body.Data, &d); err != nil {
		t.Fatalf("decode data %s: %v", a.Body.Data, err)
	}
	return d
}

func (a answer) errCode() string {
	if a.Body.Error == nil {
		return ""
	}
	return a.Body.Error.Code
}

// post sends a create-and-confirm request to the local runner at path.
func post(t *testing.T, url string, body any) answer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	a := answer{Status: resp.StatusCode, Header: resp.Header}
	a.Raw, _ = io.ReadAll(resp.Body)
	a.Took = time.Since(start)
	if err := json.Unmarshal(a.Raw, &a.Body); err != nil {
		t.Fatalf("POST %s: %d %s: %v", url, resp.StatusCode, a.Raw, err)
	}
	return a
}

type item struct {
	ProductID int64 `json:"product_id"`
	Qty       int   `json:"qty"`
}

type request struct {
	CustomerID     int64  `json:"customer_id"`
	Items          []item `json:"items"`
	IdempotencyKey string `json:"idempotency_key"`
	CorrelationID  string `json:"correlation_id,omitempty"`
}

// product inserts a product and returns its id.
func (s *stack) product(sku string, price int64, stock int) int64 {
	s.t.Helper()
	res, err := s.ordersDB.Exec(`INSERT INTO products (sku, name, price_cents, stock, created_at, updated_at)
		VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`, sku, "Product "+sku, price, stock)
	if err != nil {
		s.t.Fatalf("insert product: %v", err)
	}
	id, _ := res.LastInsertId()
	return id
}

func (s *stack) stock(id int64) int {
	s.t.Helper()
	var n int
	if err := s.ordersDB.QueryRow(`SELECT stock FROM products WHERE id = ?`, id).Scan(&n); err != nil {
		s.t.Fatalf("stock of %d: %v", id, err)
	}
	return n
}

func (s *stack) count(query string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.ordersDB.QueryRow(query, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// ordersWithProduct counts the orders holding product id.
func (s *stack) ordersWithProduct(id int64) int {
	return s.count(`SELECT COUNT(DISTINCT order_id) FROM order_items WHERE product_id = ?`, id)
}

// events counts the outbox events of type typ for aggregate id.
func (s *stack) events(typ, aggregateID string) int {
	return s.count("SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(metadata, '$.event_type') = ? AND JSON_VALUE(metadata, '$.aggregate_id') = ?", typ, aggregateID)
}

func (s *stack) requestStatus(key string) (status string, orderID sql.NullInt64) {
	s.t.Helper()
	err := s.ordersDB.QueryRow(`SELECT status, order_id FROM order_requests WHERE idempotency_key = ?`, key).Scan(&status, &orderID)
	if err == sql.ErrNoRows {
		return "", orderID
	}
	if err != nil {
		s.t.Fatalf("order request %s: %v", key, err)
	}
	return status, orderID
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLines returns the lines of out that mention the correlation id as their correlation_id.
func logLines(out, corr string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"correlation_id":"`+corr+`"`) {
			lines = append(lines, l)
		}
	}
	return lines
}

// auditActors returns the audit records of entity id in the orders database, as "action by actor/customer".
func (s *stack) auditActors(entity string, id int64) []string {
	s.t.Helper()
	rows, err := s.ordersDB.Query(`SELECT action, actor, COALESCE(actor_customer_id, 0) FROM audit_log WHERE entity_type = ? AND entity_id = ? ORDER BY id`, entity, id)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var action, actor string
		var bound int64
		if err := rows.Scan(&action, &actor, &bound); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s by %s/%d", action, actor, bound))
	}
	return out
}

// published waits until the relay has published n events of aggregate id to the topic (the stack runs
// with stackOptions.events), reads them from the tap queue subscribed to it, and returns them as "type by
// actor", in aggregate version order. Events of other aggregates read on the way are kept for later calls.
func (s *stack) published(t *testing.T, aggregateID string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(s.tapped[aggregateID]) < n && time.Now().Before(deadline) {
		for _, m := range s.sqs.Collect(t, tapQueue, 1, 2*time.Second) {
			var ev events.Envelope
			if err := json.Unmarshal([]byte(m.Body), &ev); err != nil {
				t.Fatalf("tap: not an event: %s", m.Body)
			}
			if s.tapped == nil {
				s.tapped = map[string][]events.Envelope{}
			}
			s.tapped[ev.AggregateID] = append(s.tapped[ev.AggregateID], ev)
		}
	}
	evs := slices.Clone(s.tapped[aggregateID])
	slices.SortFunc(evs, func(a, b events.Envelope) int { return a.AggregateVersion - b.AggregateVersion })
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type+" by "+ev.Actor)
	}
	return out
}

// Command launcher runs the whole stack on one machine for `make run`: goaws (local SQS) and every service
// process, each with its log lines prefixed by its name. It waits until everything is healthy, prints the
// URLs, a ready-to-paste request and an access token, and stops every process on Ctrl-C (or when one of
// them dies).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process of the stack.
type proc struct {
	name   string
	bin    string
	args   []string
	env    []string
	port   int    // a port it listens on, checked free before start
	health string // URL answering 200 when ready; "" means: ready when the port accepts connections
	// metrics is the base URL its /metrics is under, printed once the stack is up; admin says that the
	// URL is an admin listener's (with /health, and pprof when PPROF=true).
	metrics string
	admin   bool
}

// stack is every process of make run. The worker and the relay have no public port: their metrics
// and health are on WORKER_ADMIN_ADDR and RELAY_ADMIN_ADDR (from the environment make loads).
func stack(getenv func(string) string) []proc {
	worker, workerPort := adminURL(getenv("WORKER_ADMIN_ADDR"), "127.0.0.1:9101")
	relay, relayPort := adminURL(getenv("RELAY_ADMIN_ADDR"), "127.0.0.1:9102")
	return []proc{
		{name: "goaws", bin: "goaws", args: []string{"-config", "localstack/goaws.yaml", "-loglevel", "warn"}, port: 4100},
		{name: "customers-api", bin: "customers-api", env: []string{"PORT=3001", "DB_NAME=customers"}, port: 3001, health: "http://127.0.0.1:3001/health", metrics: "http://127.0.0.1:3001"},
		{name: "orders-api", bin: "orders-api", env: []string{"PORT=3002", "DB_NAME=orders"}, port: 3002, health: "http://127.0.0.1:3002/health", metrics: "http://127.0.0.1:3002"},
		{name: "outbox-relay", bin: "outbox-relay", env: []string{"DB_NAME=orders"}, port: relayPort, health: relay + "/health", metrics: relay, admin: true},
		{name: "orders-worker", bin: "orders-worker", env: []string{"DB_NAME=orders"}, port: workerPort, health: worker + "/health", metrics: worker, admin: true},
		{name: "reporting", bin: "reporting", env: []string{"PORT=3004", "DB_NAME=reporting"}, port: 3004, health: "http://127.0.0.1:3004/health", metrics: "http://127.0.0.1:3004"},
		{name: "orchestrator", bin: "orchestrator-local", env: []string{"PORT=3003"}, port: 3003, health: "http://127.0.0.1:3003/health", metrics: "http://127.0.0.1:3003"},
	}
}

// adminURL is the base URL that reaches the admin address addr (def when empty) from this machine, and
// its port.
func adminURL(addr, def string) (string, int) {
	if addr == "" {
		addr = def
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port, _ = net.SplitHostPort(def)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	n, _ := strconv.Atoi(port)
	return "http://" + net.JoinHostPort(host, port), n
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, "bin", stack(os.Getenv), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, binDir string, procs []proc, out io.Writer) error {
	for _, p := range procs {
		if _, err := os.Stat(filepath.Join(binDir, p.bin)); err != nil {
			return fmt.Errorf("%s/%s is missing: run `make build` first", binDir, p.bin)
		}
		if p.port != 0 && portInUse(p.port) {
			return fmt.Errorf("port %d (%s) is already in use: stop whatever listens there (an earlier `make run`?)", p.port, p.name)
		}
	}

	var mu sync.Mutex // one writer for all prefixed output
	w := &syncWriter{w: out, mu: &mu}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var wg sync.WaitGroup
	var cmds []*exec.Cmd
	defer func() {
		for i := len(cmds) - 1; i >= 0; i-- {
			if c := cmds[i]; c.Process != nil {
				_ = c.Process.Signal(syscall.SIGTERM)
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			for _, c := range cmds {
				if c.Process != nil {
					_ = c.Process.Kill()
				}
			}
			<-done
		}
		fmt.Fprintln(w, "[launcher] all processes stopped")
	}()

	for _, p := range procs {
		cmd := exec.Command(filepath.Join(binDir, p.bin), p.args...)
		cmd.Env = append(os.Environ(), p.env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
		cmds = append(cmds, cmd)
		var pipes sync.WaitGroup
		pipes.Add(2)
		go prefix(w, p.name, stdout, &pipes)
		go prefix(w, p.name, stderr, &pipes)
		wg.Add(1)
		go func(p proc, cmd *exec.Cmd) {
			defer wg.Done()
			pipes.Wait()
			err := cmd.Wait()
			if ctx.Err() == nil {
				cancel(fmt.Errorf("%s exited unexpectedly (%v); stopping the stack", p.name, err))
			}
		}(p, cmd)
		if err := waitReady(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(w, "[launcher] %s is up\n", p.name)
	}

	if len(procs) > 0 && procs[len(procs)-1].name == "orchestrator" {
		fmt.Fprint(w, banner(procs))
		fmt.Fprint(w, tokenBanner(os.Getenv))
	} else {
		fmt.Fprintln(w, "[launcher] all processes are up")
	}
	<-ctx.Done()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintln(w, "[launcher] stopping")
	return nil
}

func waitReady(ctx context.Context, p proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		switch {
		case p.health != "":
			if res, err := http.Get(p.health); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return nil
				}
			}
		case p.port != 0:
			if portInUse(p.port) {
				return nil
			}
		default:
			// A process without a port is ready once it has kept running for a moment.
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(time.Second):
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not become ready within 60 s", p.name)
}

func portInUse(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func prefix(w io.Writer, name string, r io.Reader, wg *sync.WaitGroup) {
	defer wg.Done()
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	tag := fmt.Sprintf("[%-13s] ", name)
	for s.Scan() {
		fmt.Fprintln(w, tag+s.Text())
	}
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// banner is what the launcher prints once the stack is up: the URLs, every metrics URL, and a
// ready-to-paste request.
func banner(procs []proc) string {
	var m strings.Builder
	for _, p := range procs {
		if p.metrics == "" {
			continue
		}
		fmt.Fprintf(&m, "   %-14s %s/metrics", p.name, p.metrics)
		if p.admin {
			fmt.Fprintf(&m, "   (admin: also /health, and /debug/pprof/ with PPROF=true)")
		}
		m.WriteString("\n")
	}
	return strings.Replace(bannerText, "{{metrics}}", m.String(), 1)
}

var bannerText = strings.TrimLeft(`
================================================================================
 The stack is up. Ctrl-C stops everything.

   customers-api  http://127.0.0.1:3001   (GET /health, /openapi.yaml)
   orders-api     http://127.0.0.1:3002   (GET /health, /openapi.yaml)
   orchestrator   http://127.0.0.1:3003   (POST /dev/orchestrator/create-and-confirm-order)
   reporting      http://127.0.0.1:3004   (GET /reports/daily-sales?from=YYYY-MM-DD&to=YYYY-MM-DD, /health, /openapi.yaml)
   SQS (goaws)    http://127.0.0.1:4100   (topic order-events → reporting-order-events, order-events-tap; order-commands; DLQs)

 Metrics (Prometheus text format; ops/prometheus.yml scrapes them, README "Operating it" says what matters):
{{metrics}}
 Create and confirm an order:

   curl -sS -X POST http://localhost:3003/dev/orchestrator/create-and-confirm-order \
     -H 'Content-Type: application/json' \
     -d '{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"demo-'"$(date +%s)"'"}'
================================================================================
`, "\n")

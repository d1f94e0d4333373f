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
}

func stack() []proc {
	return []proc{
		{name: "goaws", bin: "goaws", args: []string{"-config", "localstack/goaws.yaml", "-loglevel", "warn"}, port: 4100},
		{name: "customers-api", bin: "customers-api", env: []string{"PORT=3001", "DB_NAME=customers"}, port: 3001, health: "http://127.0.0.1:3001/health"},
		{name: "orders-api", bin: "orders-api", env: []string{"PORT=3002", "DB_NAME=orders"}, port: 3002, health: "http://127.0.0.1:3002/health"},
		{name: "outbox-relay", bin: "outbox-relay", env: []string{"DB_NAME=orders"}},
		{name: "orders-worker", bin: "orders-worker", env: []string{"DB_NAME=orders"}},
		{name: "reporting", bin: "reporting", env: []string{"PORT=3004", "DB_NAME=reporting"}, port: 3004, health: "http://127.0.0.1:3004/health"},
		{name: "orchestrator", bin: "orchestrator-local", env: []string{"PORT=3003"}, port: 3003, health: "http://127.0.0.1:3003/health"},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, "bin", stack(), os.Stdout); err != nil {
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
		fmt.Fprint(w, banner)
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

var banner = strings.TrimLeft(`
================================================================================
 The stack is up. Ctrl-C stops everything.

   customers-api  http://127.0.0.1:3001   (GET /health, /openapi.yaml)
   orders-api     http://127.0.0.1:3002   (GET /health, /openapi.yaml)
   orchestrator   http://127.0.0.1:3003   (POST /dev/orchestrator/create-and-confirm-order)
   reporting      http://127.0.0.1:3004   (GET /reports/daily-sales?from=YYYY-MM-DD&to=YYYY-MM-DD, /health, /openapi.yaml)
   SQS (goaws)    http://127.0.0.1:4100   (topic order-events → reporting-order-events, order-events-tap; order-commands; DLQs)

 Create and confirm an order:

   curl -sS -X POST http://localhost:3003/dev/orchestrator/create-and-confirm-order \
     -H 'Content-Type: application/json' \
     -d '{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"demo-'"$(date +%s)"'"}'
================================================================================
`, "\n")

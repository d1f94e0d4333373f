package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procDef is a binary of the stack.
type procDef struct {
	name     string // as reported
	bin      string // file name in the binaries directory
	listens  bool   // serves HTTP on PORT with GET /health
	db       string // schema of the database it uses, "" for none
	optional bool   // started only when the binary exists
}

// stackDefs are the processes of the stack in start order (the launcher's order, so dependencies are up
// first). reporting is started when the binaries directory has it.
var stackDefs = []procDef{
	{name: "customers-api", bin: "customers-api", listens: true, db: "customers"},
	{name: "orders-api", bin: "orders-api", listens: true, db: "orders"},
	{name: "outbox-relay", bin: "outbox-relay", db: "orders"},
	{name: "orders-worker", bin: "orders-worker", db: "orders"},
	{name: "orchestrator", bin: "orchestrator-local", listens: true},
	{name: "reporting", bin: "reporting", listens: true, db: "reporting", optional: true},
}

// process is one started binary; its output goes straight to a log file (no copying through the harness,
// which would cost CPU on the measured machine).
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    chan struct{}
	waitErr error
}

func startProcess(name, path string, args, env []string, logPath string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C at the terminal reaches the harness only, which then stops everything in
	// order and drops its databases. Pdeathsig: nothing outlives a harness that is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, log: f, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id, or 0 once it has exited.
func (p *process) pid() int {
	if p == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// check returns an error naming the process and the end of its output if it has exited.
func (p *process) check() error {
	if p == nil || !p.exited() {
		return nil
	}
	return fmt.Errorf("%s exited (%v); its last output:\n%s", p.name, p.waitErr, p.tail(15))
}

// stop sends SIGTERM and, after grace, SIGKILL. Stopping twice is harmless.
func (p *process) stop(grace time.Duration) {
	if p == nil {
		return
	}
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.log.Close()
}

// tail returns the last n lines of the process's output.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// waitHealthy waits until url answers 200, failing at once if p exits.
func waitHealthy(ctx context.Context, p *process, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if err := p.check(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy at %s within %s (%v); its last output:\n%s", p.name, url, timeout, last, p.tail(15))
}

// waitRunning is readiness for a process without a port: it is still running after d.
func waitRunning(ctx context.Context, p *process, d time.Duration) error {
	sleep(ctx, d)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return p.check()
}

// freePort asks the kernel for a free loopback port. Another process could take it before ours binds;
// the start then fails with the port named in the process's output.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// buildBinaries builds the current tree's binaries into dir with the Makefile's own build target, so the
// set of binaries and their packages stay whatever `make build` says.
func buildBinaries(ctx context.Context, root, dir string) error {
	cmd := exec.CommandContext(ctx, "make", "-C", root, "--no-print-directory", "build", "BIN="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build binaries (make build BIN=%s): %v\n%s", dir, err, out.String())
	}
	return nil
}

// buildGoaws builds the pinned goaws tool into dir (for a binaries directory that lacks it).
func buildGoaws(ctx context.Context, root, dir string) (string, error) {
	path := filepath.Join(dir, "goaws")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/Admiral-Piett/goaws/app/cmd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build goaws: %v\n%s", err, out)
	}
	return path, nil
}

// processEnv is base with overrides applied (later wins), as KEY=VALUE strings.
func processEnv(base map[string]string, overrides ...map[string]string) []string {
	m := make(map[string]string, len(base))
	for k, v := range base {
		m[k] = v
	}
	for _, o := range overrides {
		for k, v := range o {
			m[k] = v
		}
	}
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return env
}

// baseEnv is what every started process sees: this process's environment with the env file applied on
// top (as make does when it includes and exports the file).
func baseEnv(file map[string]string) map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	for k, v := range file {
		m[k] = v
	}
	// Settings the harness decides per process must not leak in from the caller's environment.
	for _, k := range []string{"PORT", "DB_NAME", "DB_DSN"} {
		delete(m, k)
	}
	// The worker's and the relay's admin listeners take any free port: a relay of its own runs beside
	// the stack's, and a `make run` may hold the default ports.
	m["WORKER_ADMIN_ADDR"], m["RELAY_ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
	return m
}

// dbEnv points a process at database name on the server: DB_DSN (which wins) and the parts, so binaries
// that read either find it.
func dbEnv(s *serverConfig, name string) map[string]string {
	env := map[string]string{"DB_DSN": s.dsn(name, false), "DB_NAME": name, "DB_USER": s.cfg.User, "DB_PASSWORD": s.cfg.Passwd}
	if s.cfg.Net == "tcp" {
		if host, port, err := net.SplitHostPort(s.cfg.Addr); err == nil {
			env["DB_HOST"], env["DB_PORT"] = host, port
		}
	}
	return env
}

// startStack starts every process of the stack and waits until each is ready.
func (b *bench) startStack(ctx context.Context) error {
	urls := map[string]string{}
	ports := map[string]int{}
	for _, d := range stackDefs {
		if d.listens {
			port, err := freePort()
			if err != nil {
				return err
			}
			ports[d.name] = port
			urls[d.name] = "http://127.0.0.1:" + strconv.Itoa(port)
		}
	}
	b.urls = urls
	common := map[string]string{
		"CUSTOMERS_API_BASE": urls["customers-api"],
		"ORDERS_API_BASE":    urls["orders-api"],
		"AWS_ENDPOINT_URL":   b.sqs.endpoint,
		"AWS_REGION":         b.sqs.topo.Region,
	}
	// Start everything, then wait for all of it: no process needs another one to start (the relay and
	// the worker wait for their queues, the services call each other per request).
	var started []procDef
	for _, d := range stackDefs {
		path := filepath.Join(b.binDir, d.bin)
		if _, err := os.Stat(path); err != nil {
			if d.optional {
				continue
			}
			return fmt.Errorf("binary %s missing in %s", d.bin, b.binDir)
		}
		env := map[string]string{}
		if d.listens {
			env["PORT"] = strconv.Itoa(ports[d.name])
		}
		if d.db != "" {
			name, err := b.database(ctx, d.db)
			if err != nil {
				return err
			}
			env = merge(env, dbEnv(b.server, name))
		}
		p, err := startProcess(d.name, path, nil, processEnv(b.env, common, env), filepath.Join(b.o.logsDir, d.name+".log"))
		if err != nil {
			return err
		}
		b.procs = append(b.procs, p)
		started = append(started, d)
	}
	errs := make([]error, len(started))
	var wg sync.WaitGroup
	for i, d := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := b.procs[i]
			if d.listens {
				errs[i] = waitHealthy(ctx, p, urls[d.name]+"/health", 60*time.Second)
			} else {
				errs[i] = waitRunning(ctx, p, time.Second)
			}
			if errs[i] != nil {
				return
			}
			if d.listens {
				b.logf("%s is up at %s (pid %d)", d.name, urls[d.name], p.pid())
			} else {
				b.logf("%s is up (pid %d)", d.name, p.pid())
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// proc returns the started process named name, or nil.
func (b *bench) proc(name string) *process {
	for _, p := range b.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// checkStack returns an error if a process of the stack has died.
func (b *bench) checkStack() error {
	var errs []error
	for _, p := range b.procs {
		if err := p.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/proctest"
)

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestRunPrefixesLogsWaitsForHealthAndStopsEverything(t *testing.T) {
	dir := t.TempDir()
	pidDir := t.TempDir()
	script(t, dir, "worker", `echo $$ > `+pidDir+`/worker; echo "worker line"; trap 'echo "worker got TERM"; exit 0' TERM; while :; do sleep 0.1; done`)

	// A real HTTP server stands for a service with a health check; it turns healthy after a few probes.
	var probes int
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		probes++
		if probes < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	script(t, dir, "api", `echo $$ > `+pidDir+`/api; echo "api line" >&2; trap 'exit 0' TERM; while :; do sleep 0.1; done`)

	procs := []proc{
		{name: "worker", bin: "worker"},
		{name: "api", bin: "api", health: "http://" + ln.Addr().String() + "/health"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &proctest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, dir, procs, out) }()

	waitFor(t, "all processes up", func() bool { return strings.Contains(out.String(), "all processes are up") })
	for _, want := range []string{"[worker       ] worker line", "[api          ] api line", "[launcher] api is up"} {
		waitFor(t, want, func() bool { return strings.Contains(out.String(), want) })
	}
	mu.Lock()
	if probes < 3 {
		t.Errorf("health probed %d times before ready, want at least 3", probes)
	}
	mu.Unlock()
	var pids []int
	for _, name := range []string{"worker", "api"} {
		b, err := os.ReadFile(filepath.Join(pidDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		fmt.Sscan(string(b), &pid)
		pids = append(pids, pid)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still running after the launcher stopped", pid)
		}
	}
	for _, want := range []string{"worker got TERM", "[launcher] all processes stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunStopsTheStackWhenAProcessDies(t *testing.T) {
	dir := t.TempDir()
	pidDir := t.TempDir()
	script(t, dir, "steady", `echo $$ > `+pidDir+`/steady; trap 'exit 0' TERM; while :; do sleep 0.1; done`)
	script(t, dir, "crashy", `sleep 1.5; echo "boom" >&2; exit 3`)
	out := &proctest.Buffer{}
	err := run(context.Background(), dir, []proc{{name: "steady", bin: "steady"}, {name: "crashy", bin: "crashy"}}, out)
	if err == nil || !strings.Contains(err.Error(), "crashy exited unexpectedly") {
		t.Fatalf("run = %v, want crashy exited unexpectedly", err)
	}
	b, _ := os.ReadFile(filepath.Join(pidDir, "steady"))
	var pid int
	fmt.Sscan(string(b), &pid)
	if pid == 0 || alive(pid) {
		t.Errorf("steady (pid %d) still running after crashy died", pid)
	}
	if !strings.Contains(out.String(), "[crashy       ] boom") {
		t.Errorf("output lacks the crashed process's last line:\n%s", out.String())
	}
}

func TestRunRefusesMissingBinaryAndBusyPort(t *testing.T) {
	dir := t.TempDir()
	err := run(context.Background(), dir, []proc{{name: "x", bin: "nope"}}, &proctest.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "nope is missing: run `make build` first") {
		t.Errorf("missing binary: run = %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	script(t, dir, "svc", "exit 0")
	port := ln.Addr().(*net.TCPAddr).Port
	err = run(context.Background(), dir, []proc{{name: "svc", bin: "svc", port: port}}, &proctest.Buffer{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d (svc) is already in use", port)) {
		t.Errorf("busy port: run = %v", err)
	}
}

// The banner lists every process's metrics URL; the worker's and the relay's follow their admin
// addresses.
func TestBannerListsEveryMetricsURL(t *testing.T) {
	env := map[string]string{"WORKER_ADMIN_ADDR": ":9201", "RELAY_ADMIN_ADDR": "127.0.0.2:9202"}
	procs := stack(func(k string) string { return env[k] })
	b := banner(procs)
	for _, want := range []string{
		"customers-api  http://127.0.0.1:3001/metrics",
		"orders-api     http://127.0.0.1:3002/metrics",
		"orchestrator   http://127.0.0.1:3003/metrics",
		"reporting      http://127.0.0.1:3004/metrics",
		"orders-worker  http://127.0.0.1:9201/metrics",
		"outbox-relay   http://127.0.0.2:9202/metrics",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	for _, p := range procs {
		if p.name == "orders-worker" && (p.health != "http://127.0.0.1:9201/health" || p.port != 9201) {
			t.Errorf("worker: health %q port %d, want its admin address", p.health, p.port)
		}
	}
	if d := banner(stack(func(string) string { return "" })); !strings.Contains(d, "orders-worker  http://127.0.0.1:9101/metrics") ||
		!strings.Contains(d, "outbox-relay   http://127.0.0.1:9102/metrics") {
		t.Errorf("default admin addresses missing from the banner:\n%s", d)
	}
}

// Package proctest builds the project's real binaries for tests that run them as processes, and collects
// their output safely while they run.
package proctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	mu      sync.Mutex
	dir     string
	mainRan bool
	builds  = map[string]*build{}
	dirOnce sync.Once
	dirErr  error
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Main runs the package's tests and then removes the binaries built for them. A package that uses Build
// calls it from TestMain: func TestMain(m *testing.M) { proctest.Main(m) }.
func Main(m *testing.M) {
	mu.Lock()
	mainRan = true
	mu.Unlock()
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// Build compiles the main package pkg (an import path) once per test binary, with extra environment
// such as GOOS or CGO_ENABLED, and returns the executable's path. The binary is named after the package's
// last path element.
func Build(t testing.TB, pkg string, env ...string) string {
	t.Helper()
	mu.Lock()
	if !mainRan {
		mu.Unlock()
		t.Fatal("proctest.Build needs TestMain to call proctest.Main")
	}
	key := pkg + "\x00" + strings.Join(env, "\x00")
	b := builds[key]
	if b == nil {
		b = &build{}
		builds[key] = b
	}
	n := len(builds)
	mu.Unlock()

	dirOnce.Do(func() { dir, dirErr = os.MkdirTemp("", "backoffice-testbin-") })
	if dirErr != nil {
		t.Fatal(dirErr)
	}
	b.once.Do(func() {
		out := fmt.Sprintf("%s/%d/%s", dir, n, path.Base(pkg))
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Buffer collects a process's output: written by the process (or an in-process server), read by the test
// while it runs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines returns the complete lines written so far.
func (b *Buffer) Lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

// WaitForLog polls out, a JSON log, until a line with msg appears and returns its attribute attr. It
// fails t when done (the process or in-process server's result) yields first, or after 30 seconds.
func WaitForLog(t testing.TB, out *Buffer, done <-chan error, msg, attr string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, out.String())
		default:
		}
		for _, l := range out.Lines() {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
				return fmt.Sprint(m[attr])
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q log line within the deadline:\n%s", msg, out.String())
	return ""
}

package proctest

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path"
	"testing"
	"time"
)

// Server is a running HTTP service process.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port).
	URL string
	// Logs collects the process's output.
	Logs *Buffer
}

// Serve runs the binary bin (from Build) with exactly the environment env, which should set PORT=0,
// and waits until it logs the "listening" line of web.Serve. The process is interrupted when t ends,
// and its output is shown if t failed.
func Serve(t testing.TB, bin string, env ...string) *Server {
	t.Helper()
	s := &Server{Logs: &Buffer{}}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = s.Logs, s.Logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	name := path.Base(bin)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, s.Logs.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); s.URL == ""; time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", name, s.Logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", name, s.Logs.String())
		}
		for _, line := range s.Logs.Lines() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				_, port, _ := net.SplitHostPort(m.Addr)
				s.URL = "http://127.0.0.1:" + port
			}
		}
	}
	return s
}

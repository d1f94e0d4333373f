package relay_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/outbox"
)

// buildRelay builds the outbox-relay command into a temporary directory.
func buildRelay(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "outbox-relay")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/outbox-relay").CombinedOutput()
	if err != nil {
		t.Fatalf("go build outbox-relay: %v\n%s", err, out)
	}
	return bin
}

// relayProcess is a running outbox-relay binary.
type relayProcess struct {
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{} // closed when it exited, with err set
	err  error
}

func (e *env) startRelayProcess(t *testing.T, bin string, extra ...string) *relayProcess {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"DB_DSN="+e.db.DSN,
		"AWS_ENDPOINT_URL="+e.sqs.Endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"ORDER_EVENTS_TOPIC="+eventsTopic,
		"OUTBOX_BATCH_SIZE=100", "OUTBOX_POLL_INTERVAL=10ms", "LOG_LEVEL=info", "RELAY_ADMIN_ADDR=127.0.0.1:0")
	cmd.Env = append(cmd.Env, extra...)
	p := &relayProcess{cmd: cmd, out: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("outbox-relay output:\n%s", p.out.buf.String())
		}
	})
	return p
}

// TestCrashIsAtLeastOnce kills the real relay process with SIGKILL several times while it works
// through thousands of pending events: after a restart every event is delivered, and each crash
// causes at most one batch of duplicates.
func TestCrashIsAtLeastOnce(t *testing.T) {
	e := newEnv(t)
	bin := buildRelay(t)
	const batch, crashes = 100, 3
	total := scale("OUTBOX_TEST_CRASH_EVENTS", 5000)
	want := map[string]bool{}
	for i := 0; i < total; i += 50 {
		var evs []events.Envelope
		for j := i; j < min(i+50, total); j++ {
			ev := newEvent(t, int64(j), 1, "")
			evs = append(evs, ev)
			want[ev.EventID] = true
		}
		publish(t, e.db.DB, evs...)
	}
	pending := func() int {
		l, err := outbox.ReadLag(context.Background(), e.db.DB)
		if err != nil {
			t.Fatal(err)
		}
		return l.Pending
	}

	for i := 0; i < crashes; i++ {
		start := pending()
		p := e.startRelayProcess(t, bin)
		// Mid-stream: well into the backlog, far from its end.
		waitFor(t, 60*time.Second, "relay progress", func() bool { return pending() <= start-400 })
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		t.Logf("crash %d: killed with %d events pending", i+1, pending())
	}
	if pending() == 0 {
		t.Fatal("the backlog was gone before the last crash: the crashes were not mid-stream")
	}

	p := e.startRelayProcess(t, bin)
	got := e.collectIDs(want, 2*time.Minute)
	dups := checkDelivery(t, want, got)
	t.Logf("%d events, %d crashes, %d duplicates (at most %d allowed)", total, crashes, dups, batch*crashes)
	if dups > batch*crashes {
		t.Errorf("%d duplicates after %d crashes, want at most %d (one batch per crash)", dups, crashes, batch*crashes)
	}

	// And a graceful stop exits 0 and says so.
	waitFor(t, 10*time.Second, "outbox emptied", func() bool { return pending() == 0 })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("relay exit after SIGTERM: %v", p.err)
		}
	case <-time.After(30 * time.Second):
		t.Error("relay still running 30 s after SIGTERM")
	}
	if !strings.Contains(p.out.buf.String(), `"msg":"outbox relay stopped"`) {
		t.Errorf("no 'outbox relay stopped' line in the relay's output")
	}
}

func TestRelayCommandRefusesBadConfig(t *testing.T) {
	bin := buildRelay(t)
	for _, tc := range []struct{ env, want string }{
		{"OUTBOX_BATCH_SIZE=0", "OUTBOX_BATCH_SIZE"},
		{"OUTBOX_POLL_INTERVAL=soon", "OUTBOX_POLL_INTERVAL"},
		{"OUTBOX_MAX_ATTEMPTS=-1", "OUTBOX_MAX_ATTEMPTS"},
		{"DB_PORT=99999", "DB_PORT"},
	} {
		cmd := exec.Command(bin)
		cmd.Env = []string{tc.env}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil {
			t.Errorf("%s: exit 0, want a failure", tc.env)
			continue
		}
		msg := strings.TrimSpace(stderr.String())
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: stderr %q, want one line naming %s", tc.env, msg, tc.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every workload for about two seconds (1 s a phase) with tiny sizes against the real
// stack and checks that the table and the JSON carry every figure. It asserts no timing: only that each phase did some work.
// BENCH_TEST_BIN names prebuilt binaries to skip the build.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB databases, goaws and every binary")
	}
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "results.json")
	args := []string{"-duration", "1s", "-warmup", "0s", "-clients", "4", "-rate", "10", "-relay-events", "500",
		"-products", "20", "-customers", "10", "-json", jsonPath, "-logs", filepath.Join(dir, "logs")}
	if bin := os.Getenv("BENCH_TEST_BIN"); bin != "" {
		args = append(args, "-bin", bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, args, os.Getenv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, stderr.String())
	}
	table := stdout.String()
	t.Logf("table:\n%s", table)

	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("results are not JSON: %v", err)
	}
	for _, path := range []string{"run_id", "started_at", "wall_seconds", "source.tree_commit", "source.binaries",
		"machine.cores", "machine.mem_total_mib", "machine.load_avg_1m_start", "machine.db.version", "machine.db.settings",
		"settings.duration", "settings.clients", "settings.env", "topology.queues", "sqs_sent_timestamp_reliable", "headline", "workloads"} {
		if _, ok := lookup(doc, path); !ok {
			t.Errorf("JSON has no %s", path)
		}
	}

	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	wantPhases := map[string][]string{
		wlOrderCreate:      {"order-create", "order-create-raw"},
		wlHotProduct:       {"hot-product", "hot-product-raw"},
		wlRelay:            {"raw SendMessageBatch", "relay drain", "order-create with relay"},
		wlCreateAndConfirm: {"orchestrator 10/s", "orchestrator 1 client", "orchestrator 8 clients", "REST create+confirm 1 client", "REST create+confirm 8 clients"},
	}
	if len(rep.Workloads) != len(allWorkloads) {
		t.Fatalf("got %d workloads, want %d", len(rep.Workloads), len(allWorkloads))
	}
	for i, w := range rep.Workloads {
		if w.Name != allWorkloads[i] {
			t.Errorf("workload %d is %q, want %q", i, w.Name, allWorkloads[i])
		}
		if w.Error != "" {
			t.Errorf("workload %s failed: %s", w.Name, w.Error)
		}
		if !strings.Contains(table, "== "+w.Name) {
			t.Errorf("table has no section for %s", w.Name)
		}
		var names []string
		for _, ph := range w.Phases {
			names = append(names, ph.Name)
			checkPhase(t, w.Name, ph, table)
		}
		for _, want := range wantPhases[w.Name] {
			if !slices.Contains(names, want) {
				t.Errorf("workload %s has phases %q, want %q among them", w.Name, names, want)
			}
		}
	}
	for i, ph := range phasesOf(doc) {
		for _, key := range []string{"name", "mode", "unit", "seconds", "ops", "throughput", "latency", "error_count", "errors", "processes", "machine"} {
			if _, ok := ph[key]; !ok {
				t.Errorf("JSON phase %d has no %s", i, key)
			}
		}
		for _, key := range []string{"user_pct", "system_pct", "idle_pct", "context_switches_per_s", "busy_cpu_seconds", "other_cpu_seconds"} {
			if _, ok := lookup(ph, "machine."+key); !ok {
				t.Errorf("JSON phase %v has no machine.%s", ph["name"], key)
			}
		}
		procs, _ := ph["processes"].([]any)
		for _, p := range procs {
			pm, _ := p.(map[string]any)
			for _, key := range []string{"name", "pid", "cpu_seconds", "cpu_pct", "cpu_ms_per_op", "peak_rss_mib", "vm_hwm_mib"} {
				if _, ok := pm[key]; !ok {
					t.Errorf("JSON phase %v process %v has no %s", ph["name"], pm["name"], key)
				}
			}
		}
	}

	for _, h := range []string{"order-create ÷ order-create-raw", "hot-product ÷ hot-product-raw", "hot-product ÷ order-create",
		"relay drain ÷ raw SendMessageBatch", "relay lag p99 under order-create"} {
		hl := headline(rep, h)
		switch {
		case hl == nil:
			t.Errorf("no headline %q", h)
		case hl.Value == nil:
			t.Errorf("headline %q has no value: %s", h, hl.Detail)
		case !strings.Contains(table, h):
			t.Errorf("table has no headline %q", h)
		}
	}
	for _, h := range []string{"relay backlog growth under order-create", "create-and-confirm added by orchestrator + worker, p50, 1 client",
		"peak RSS of a service during order-create", "hot-product errors"} {
		if headline(rep, h) == nil {
			t.Errorf("no headline %q", h)
		}
	}

	relay := rep.workload(wlRelay).Relay
	switch {
	case relay == nil:
		t.Fatal("no relay figures")
	case relay.PreloadedEvents != 500 || relay.DrainRate <= 0 || relay.RawSQSRate <= 0:
		t.Errorf("relay drain figures: %+v", relay)
	case len(relay.Steady.Backlog) == 0 || relay.Steady.Lag == nil || relay.Steady.Received == 0:
		t.Errorf("relay steady figures: %+v", relay.Steady)
	}

	cc := rep.workload(wlCreateAndConfirm).Confirm
	if cc == nil {
		t.Fatal("no create-and-confirm figures")
	}
	if cc.QueueProbe == nil {
		t.Errorf("no queue probe: %s", cc.QueueProbeNote)
	}
	if len(cc.Breakdowns) != 5 {
		t.Errorf("got %d breakdowns, want 5", len(cc.Breakdowns))
	}
	for _, bd := range cc.Breakdowns {
		if !strings.Contains(table, "breakdown: "+bd.Phase) {
			t.Errorf("table has no breakdown of %s", bd.Phase)
		}
		if !strings.HasPrefix(bd.Phase, "orchestrator") {
			continue
		}
		var names []string
		for _, c := range bd.Components {
			names = append(names, c.Name)
			if c.Dist == nil && c.Missing == "" {
				t.Errorf("%s: component %s has neither figures nor a reason", bd.Phase, c.Name)
			}
		}
		for _, want := range []string{"client total", "orchestrator total", "orchestrator before send", "send PlaceOrder",
			"order-commands: sent → received", "worker processing", "confirm commit → orchestrator answer",
			"wait: sent → final answer seen", "polls", "added by orchestrator + worker"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s: no component %q", bd.Phase, want)
			}
		}
		if bd.Components[0].Dist == nil {
			t.Errorf("%s: no client total", bd.Phase)
		}
	}

	// Everything it started is gone, and so are its databases.
	for _, w := range rep.Workloads {
		for _, ph := range w.Phases {
			for _, ps := range ph.Processes {
				if ps.PID == 0 || ps.Name == "mariadbd" || strings.HasPrefix(ps.Name, "bench") {
					continue
				}
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", ps.PID)); err == nil {
					t.Errorf("%s (pid %d) still running after the run", ps.Name, ps.PID)
				}
			}
		}
	}
	checkDropped(t, rep.RunID)
}

func checkPhase(t *testing.T, workload string, ph Phase, table string) {
	t.Helper()
	if ph.Error != "" {
		t.Errorf("%s / %s failed: %s", workload, ph.Name, ph.Error)
	}
	if ph.Ops <= 0 || ph.Throughput <= 0 {
		t.Errorf("%s / %s: %d ops, throughput %v; want some", workload, ph.Name, ph.Ops, ph.Throughput)
	}
	if ph.Mode != "drain" && ph.Latency == nil {
		t.Errorf("%s / %s: no latency", workload, ph.Name)
	}
	if ph.Machine == nil {
		t.Errorf("%s / %s: no machine figures", workload, ph.Name)
	}
	var names []string
	for _, ps := range ph.Processes {
		names = append(names, ps.Name)
	}
	for _, want := range []string{"customers-api", "orders-api", "outbox-relay", "orders-worker", "orchestrator", "goaws", "bench (load)"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s / %s: processes %q, want %q among them", workload, ph.Name, names, want)
		}
	}
	if !strings.Contains(table, ph.Name) {
		t.Errorf("table has no phase %s", ph.Name)
	}
}

func checkDropped(t *testing.T, runID string) {
	t.Helper()
	if runID == "" {
		t.Error("no run id")
		return
	}
	fileEnv, _ := readEnvFile(filepath.Join("..", "..", ".env.example"))
	srv, err := serverDSN("", os.Getenv, fileEnv)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := (&serverConfig{cfg: srv}).open(context.Background(), "", false, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", "bench\\_"+runID+"\\_%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d bench_%s_* databases left behind", n, runID)
	}
}

func headline(r Report, name string) *Headline {
	for i := range r.Headline {
		if r.Headline[i].Name == name {
			return &r.Headline[i]
		}
	}
	return nil
}

func phasesOf(doc map[string]any) []map[string]any {
	var out []map[string]any
	ws, _ := doc["workloads"].([]any)
	for _, w := range ws {
		wm, _ := w.(map[string]any)
		ps, _ := wm["phases"].([]any)
		for _, p := range ps {
			if pm, ok := p.(map[string]any); ok {
				out = append(out, pm)
			}
		}
	}
	return out
}

// lookup follows a dotted path through decoded JSON objects.
func lookup(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestDeriveGoawsConfig(t *testing.T) {
	repo, err := os.ReadFile(filepath.Join("..", "..", "localstack", "goaws.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := readTopology(repo)
	if err != nil {
		t.Fatal(err)
	}
	// The repository's topology has topics, so the harness subscribes its own tap queue to each.
	if len(want.Topics) > 0 {
		want.Queues = append(want.Queues, tapQueue)
		for i := range want.Topics {
			want.Topics[i].Queues = append(want.Topics[i].Queues, tapQueue)
		}
	}
	withTopic := []byte(`Local:
  Host: localhost
  Port: "4100"
  Region: eu-west-1
  AccountId: "42"
  Queues:
    - Name: reporting-order-events
      RedrivePolicy: '{"maxReceiveCount": 5, "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:42:reporting-order-events-dlq"}'
    - Name: reporting-order-events-dlq
  Topics:
    - Name: order-events
      Subscriptions:
        - QueueName: reporting-order-events
          Raw: true
`)
	for _, tc := range []struct {
		name       string
		src        []byte
		wantQueues []string
		wantTopics []Topic
	}{
		{"repository", repo, want.Queues, want.Topics},
		{"with a topic", withTopic, []string{"reporting-order-events", "reporting-order-events-dlq", tapQueue},
			[]Topic{{Name: "order-events", Queues: []string{"reporting-order-events", tapQueue}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, topo, err := deriveGoawsConfig(tc.src, 45678)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), `Port: "45678"`) {
				t.Errorf("derived config does not listen on 45678:\n%s", out)
			}
			if !slices.Equal(topo.Queues, tc.wantQueues) {
				t.Errorf("got queues %q, want %q", topo.Queues, tc.wantQueues)
			}
			if fmt.Sprint(topo.Topics) != fmt.Sprint(tc.wantTopics) {
				t.Errorf("got topics %v, want %v", topo.Topics, tc.wantTopics)
			}
			if tc.name == "with a topic" {
				if topo.Region != "eu-west-1" || topo.AccountID != "42" || topo.topicARN("order-events") != "arn:aws:sns:eu-west-1:42:order-events" {
					t.Errorf("got region %q, account %q", topo.Region, topo.AccountID)
				}
				if !strings.Contains(string(out), "maxReceiveCount") {
					t.Errorf("the redrive policy was lost:\n%s", out)
				}
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := Latency{N: 100, P50: 50, P95: 95, P99: 99, Max: 100, Mean: 50.5}
	if *got != want {
		t.Errorf("got %+v, want %+v", *got, want)
	}
	if summarize(nil) != nil {
		t.Error("summary of nothing is not nil")
	}
}

func TestMedian(t *testing.T) {
	got := median([]Phase{{Name: "a", Throughput: 30, Unit: "orders/s"}, {Name: "b", Throughput: 10}, {Name: "c", Throughput: 20}})
	if got.Name != "c" || !slices.Equal(got.RoundThroughputs, []float64{30, 10, 20}) {
		t.Errorf("got %s with rounds %v, want c with [30 10 20]", got.Name, got.RoundThroughputs)
	}
}

func TestHTTPClass(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		err    error
		want   string
	}{
		{409, `{"error":{"code":"INSUFFICIENT_STOCK","message":"x"}}`, nil, "409 INSUFFICIENT_STOCK"},
		{202, `{"success":true,"data":{"status":"PENDING"}}`, nil, "202 PENDING"},
		{502, `bad gateway`, nil, "502"},
		{0, ``, context.Canceled, "canceled"},
		{0, ``, fmt.Errorf("dial: connection refused"), "transport: connection refused"},
	} {
		if got := httpClass(tc.status, []byte(tc.body), tc.err); got != tc.want {
			t.Errorf("httpClass(%d, %s, %v) = %q, want %q", tc.status, tc.body, tc.err, got, tc.want)
		}
	}
}

func TestParseEventBody(t *testing.T) {
	ev := `{"event_id":"e1","type":"order.created","occurred_at":"2026-01-02T03:04:05.123456Z"}`
	notification, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": ev})
	for _, body := range []string{ev, string(notification)} {
		id, at, ok := parseEventBody(body)
		if !ok || id != "e1" || at.Nanosecond() != 123456000 {
			t.Errorf("parseEventBody(%s) = %q, %v, %v", body, id, at, ok)
		}
	}
	if _, _, ok := parseEventBody("not json"); ok {
		t.Error("parsed a body that is not JSON")
	}
}

func TestReadLogLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	lines := `{"time":"2026-01-02T03:04:05.100Z","level":"INFO","msg":"starting"}
{"time":"2026-01-02T03:04:05.200Z","level":"INFO","msg":"request","correlation_id":"a","duration_ms":12.5,"polls":3}
{"time":"2026-01-02T03:04:05.300Z","level":"INFO","msg":"request","correlation_id":"b","duration_ms":7,"send_ms":1.5,"wait_ms":4}
not json
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readLogLines(path, 0, "request")
	if err != nil {
		t.Fatal(err)
	}
	a, b := got["a"], got["b"]
	switch {
	case len(got) != 2:
		t.Errorf("got %d lines, want 2", len(got))
	case a.DurationMS == nil || *a.DurationMS != 12.5 || a.Polls == nil || a.SendMS != nil:
		t.Errorf("line a: %+v", a)
	case b.SendMS == nil || *b.SendMS != 1.5 || b.WaitMS == nil || *b.WaitMS != 4 || b.Time.UnixMilli()%1000 != 300:
		t.Errorf("line b: %+v", b)
	}
}

func TestProcStats(t *testing.T) {
	pid := os.Getpid()
	if _, err := cpuSeconds(pid); err != nil {
		t.Fatal(err)
	}
	rss, hwm, err := memKiB(pid)
	if err != nil || rss <= 0 || hwm < rss {
		t.Errorf("memKiB = %d, %d, %v; want 0 < rss <= hwm", rss, hwm, err)
	}
	if _, err := readCPUTimes(); err != nil {
		t.Fatal(err)
	}
}

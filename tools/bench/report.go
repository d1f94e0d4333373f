package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is everything a run measured; it is written as JSON and rendered as the table.
type Report struct {
	// RunID tags the run's databases (bench_<run_id>_*) and, in attach mode, its seeded rows.
	RunID       string    `json:"run_id"`
	StartedAt   time.Time `json:"started_at"`
	WallSeconds float64   `json:"wall_seconds"`
	Source      Source    `json:"source"`
	Machine     Machine   `json:"machine"`
	Settings    Settings  `json:"settings"`
	Topology    *Topology `json:"topology"`
	// SentTimestampReliable says whether SQS's SentTimestamp is the send time (goaws: false, it sets it at
	// receive), so whether figures based on it mean anything; null when the check failed.
	SentTimestampReliable *bool      `json:"sqs_sent_timestamp_reliable"`
	Headline              []Headline `json:"headline"`
	Workloads             []Workload `json:"workloads"`

	started time.Time
}

// Source says what was measured.
type Source struct {
	// TreeCommit is the commit of the tree the harness ran from; TreeDirty that it had changes.
	TreeCommit string `json:"tree_commit"`
	TreeDirty  bool   `json:"tree_dirty"`
	// BinDir is where the binaries came from; BuiltFromTree that the harness built them from the tree.
	BinDir        string `json:"bin_dir"`
	BuiltFromTree bool   `json:"built_from_tree"`
	// Binaries maps each binary to the VCS revision stamped in it ("" when built without VCS stamping).
	Binaries map[string]string `json:"binaries"`
	Attach   bool              `json:"attach"`
}

// Machine describes where the run happened.
type Machine struct {
	Cores        int      `json:"cores"`
	MemTotalMiB  int      `json:"mem_total_mib"`
	Kernel       string   `json:"kernel"`
	GoVersion    string   `json:"go_version"`
	LoadAvgStart float64  `json:"load_avg_1m_start"`
	LoadAvgEnd   float64  `json:"load_avg_1m_end"`
	DB           DBServer `json:"db"`
}

// Settings are the harness's knobs and the processes' tuning variables.
type Settings struct {
	Duration    string            `json:"duration"`
	Warmup      string            `json:"warmup"`
	Clients     int               `json:"clients"`
	Rounds      int               `json:"rounds"`
	Rate        float64           `json:"rate"`
	RelayRate   float64           `json:"relay_rate"`
	RelayEvents int               `json:"relay_events"`
	Products    int               `json:"products"`
	Customers   int               `json:"customers"`
	Workloads   []string          `json:"workloads"`
	Env         map[string]string `json:"env"`
}

// Headline is one of the figures the performance targets are stated in.
type Headline struct {
	Name   string   `json:"name"`
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit"`
	Target string   `json:"target,omitempty"`
	Detail string   `json:"detail"`
}

// Workload is one workload's phases and own figures.
type Workload struct {
	Name    string          `json:"name"`
	Seconds float64         `json:"seconds"`
	Error   string          `json:"error,omitempty"`
	Phases  []Phase         `json:"phases"`
	Relay   *RelayFigures   `json:"relay,omitempty"`
	Confirm *ConfirmFigures `json:"create_and_confirm,omitempty"`
}

// Phase is one measured load.
type Phase struct {
	Name       string           `json:"name"`
	Mode       string           `json:"mode"`
	Unit       string           `json:"unit"`
	Clients    int              `json:"clients,omitempty"`
	Rate       float64          `json:"rate,omitempty"`
	Seconds    float64          `json:"seconds"`
	Ops        int64            `json:"ops"`
	Throughput float64          `json:"throughput"`
	Latency    *Latency         `json:"latency"`
	ErrorCount int64            `json:"error_count"`
	Errors     map[string]int64 `json:"errors"`
	Processes  []ProcStats      `json:"processes"`
	Machine    *MachineUsage    `json:"machine"`
	// RoundThroughputs are the throughputs of every round when the phase ran several (-rounds); the
	// phase's own figures are those of the median round.
	RoundThroughputs []float64 `json:"round_throughputs,omitempty"`
	Note             string    `json:"note,omitempty"`
	Error            string    `json:"error,omitempty"`
}

// tuningVars are the environment variables that shape performance, recorded with every run.
var tuningVars = []string{"LOG_LEVEL", "WORKER_CONCURRENCY", "ORDER_WAIT_TIMEOUT", "OUTBOX_POLL_INTERVAL", "OUTBOX_BATCH_SIZE",
	"CUSTOMERS_API_TIMEOUT", "UPSTREAM_TIMEOUT", "ORDER_COMMANDS_VISIBILITY_TIMEOUT"}

func newReport(b *bench) *Report {
	r := &Report{RunID: b.runID, started: time.Now(), StartedAt: time.Now().UTC().Truncate(time.Second)}
	r.Machine = Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()}
	if v, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Machine.Kernel = strings.TrimSpace(string(v))
	}
	if v, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(v), "MemTotal: %d kB", &kb); err == nil {
			r.Machine.MemTotalMiB = kb / 1024
		}
	}
	r.Settings = Settings{Duration: b.o.duration.String(), Warmup: b.o.warmup.String(), Clients: b.o.clients, Rounds: b.o.rounds, Rate: b.o.rate,
		RelayRate: b.o.relayRate, RelayEvents: b.o.relayEvents, Products: b.o.products, Customers: b.o.customers,
		Workloads: b.o.workloads, Env: map[string]string{}}
	for _, k := range tuningVars {
		if v, ok := b.env[k]; ok {
			r.Settings.Env[k] = v
		}
	}
	r.Source.TreeCommit = strings.TrimSpace(gitOut(b.root, "rev-parse", "HEAD"))
	r.Source.TreeDirty = strings.TrimSpace(gitOut(b.root, "status", "--porcelain")) != ""
	return r
}

// describe records what setup found: the server, the binaries and the topology.
func (r *Report) describe(ctx context.Context, b *bench) {
	r.Machine.DB = describeServer(ctx, b.admin, b.server.cfg.Addr)
	r.Source.Attach = b.o.attach
	r.Source.BinDir = b.o.binDir
	r.Source.BuiltFromTree = !b.o.attach && b.o.binDir == ""
	r.Source.Binaries = map[string]string{}
	for _, p := range b.procs {
		r.Source.Binaries[filepath.Base(p.cmd.Path)] = vcsRevision(p.cmd.Path)
	}
	if b.sqs != nil {
		t := b.sqs.topo
		r.Topology = &t
	}
	r.SentTimestampReliable = b.sentTimestampOK
}

func vcsRevision(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += " (modified)"
	}
	return rev
}

func gitOut(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, _ := cmd.Output()
	return string(out)
}

// finish computes the headline figures from the workloads.
func (r *Report) finish() {
	r.WallSeconds = round(time.Since(r.started).Seconds(), 1)
	r.Machine.LoadAvgEnd = loadAvg()
	ratio := func(name, target, num, den string) {
		h := Headline{Name: name, Unit: "ratio", Target: target}
		a, b := r.phase(num), r.phase(den)
		switch {
		case a == nil || b == nil:
			h.Detail = "n/a: not run"
		case a.Error != "" || b.Error != "":
			h.Detail = "n/a: a phase failed"
		case b.Throughput == 0:
			h.Detail = "n/a: " + den + " did nothing"
		default:
			v := round(a.Throughput/b.Throughput, 2)
			h.Value = &v
			h.Detail = fmt.Sprintf("%s %.1f ÷ %s %.1f %s", num, a.Throughput, den, b.Throughput, a.Unit)
		}
		r.Headline = append(r.Headline, h)
	}
	ratio("order-create ÷ order-create-raw", "≥ 0.67", wlOrderCreate, wlOrderCreate+"-raw")
	ratio("hot-product ÷ hot-product-raw", "≥ 0.6", wlHotProduct, wlHotProduct+"-raw")
	ratio("hot-product ÷ order-create", "", wlHotProduct, wlOrderCreate)
	if p := r.phase(wlHotProduct); p != nil {
		v := float64(p.ErrorCount)
		r.Headline = append(r.Headline, Headline{Name: "hot-product errors", Value: &v, Unit: "count", Target: "0"})
	}
	ratio("relay drain ÷ raw SendMessageBatch", "≥ 0.8", "relay drain", "raw SendMessageBatch")
	if r.phase("raw SNS PublishBatch") != nil {
		ratio("relay drain ÷ raw SNS PublishBatch", "", "relay drain", "raw SNS PublishBatch")
	}
	if w := r.workload(wlRelay); w != nil && w.Relay != nil {
		s := w.Relay.Steady
		h := Headline{Name: "relay lag p99 under order-create", Unit: "ms", Target: "≤ 1000"}
		if s.Lag != nil {
			h.Value = &s.Lag.P99
			h.Detail = fmt.Sprintf("commit→receive p50 %.0f ms, p99 %.0f ms over %d events", s.Lag.P50, s.Lag.P99, s.Received)
		} else {
			h.Detail = "n/a: " + orDefault(s.Note, "no events received")
		}
		r.Headline = append(r.Headline, h)
		slope := s.BacklogSlope
		r.Headline = append(r.Headline, Headline{Name: "relay backlog growth under order-create", Value: &slope, Unit: "rows/s", Target: "≈ 0 (bounded)",
			Detail: fmt.Sprintf("max %d, end %d rows; caught up %.1f s after the load", s.BacklogMax, s.BacklogEnd, s.CatchUpSeconds)})
	}
	if w := r.workload(wlCreateAndConfirm); w != nil && w.Confirm != nil {
		for _, bd := range w.Confirm.Breakdowns {
			if bd.Phase != "orchestrator 1 client" {
				continue
			}
			h := Headline{Name: "create-and-confirm added by orchestrator + worker, p50, 1 client", Unit: "ms", Target: "≤ 20"}
			for _, c := range bd.Components {
				if c.Name == "added by orchestrator + worker" {
					if c.Dist != nil {
						h.Value = &c.Dist.P50
						h.Detail = c.Source
					} else {
						h.Detail = "n/a: " + c.Missing
					}
				}
			}
			r.Headline = append(r.Headline, h)
		}
	}
	if p := r.phase(wlOrderCreate); p != nil {
		var peak float64
		var who string
		for _, ps := range p.Processes {
			if ps.Name == "mariadbd" || ps.Name == "goaws" || strings.HasPrefix(ps.Name, "bench") {
				continue
			}
			if ps.PeakRSSMiB > peak {
				peak, who = round(ps.PeakRSSMiB, 1), ps.Name
			}
		}
		r.Headline = append(r.Headline, Headline{Name: "peak RSS of a service during order-create", Value: &peak, Unit: "MiB", Target: "≤ 30", Detail: who})
	}
}

func (r *Report) workload(name string) *Workload {
	for i := range r.Workloads {
		if r.Workloads[i].Name == name {
			return &r.Workloads[i]
		}
	}
	return nil
}

func (r *Report) phase(name string) *Phase {
	for i := range r.Workloads {
		for j := range r.Workloads[i].Phases {
			if r.Workloads[i].Phases[j].Name == name {
				return &r.Workloads[i].Phases[j]
			}
		}
	}
	return nil
}

func (r *Report) writeJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// writeTable renders the report for a reader: the headline figures first, then one section per
// workload.
func (r *Report) writeTable(out io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	tree := shortRev(r.Source.TreeCommit)
	if r.Source.TreeDirty {
		tree += " (uncommitted changes)"
	}
	bins := "built from the tree"
	switch {
	case r.Source.Attach:
		bins = "attached to a running stack"
	case !r.Source.BuiltFromTree:
		bins = r.Source.BinDir
	}
	p("")
	p("BENCH  %s   tree %s   binaries: %s", r.StartedAt.Format("2006-01-02 15:04:05 UTC"), tree, bins)
	db := r.Machine.DB
	p("machine: %d cores, %.1f GiB, Linux %s, %s; %s at %s (%s); load average %.2f at start, %.2f at end",
		r.Machine.Cores, float64(r.Machine.MemTotalMiB)/1024, r.Machine.Kernel, r.Machine.GoVersion, orDefault(db.Version, "database"), db.Addr,
		dbSettings(db.Settings), r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	p("settings: -duration %s -warmup %s -clients %d -rounds %d -rate %g/s -relay-rate %g/s -relay-events %d -products %d -customers %d; env %s",
		r.Settings.Duration, r.Settings.Warmup, r.Settings.Clients, r.Settings.Rounds, r.Settings.Rate, r.Settings.RelayRate, r.Settings.RelayEvents, r.Settings.Products, r.Settings.Customers,
		kv(r.Settings.Env))
	if r.Topology != nil {
		var topics []string
		for _, t := range r.Topology.Topics {
			topics = append(topics, fmt.Sprintf("%s → %v", t.Name, t.Queues))
		}
		p("topology: queues %v; topics %s", r.Topology.Queues, orDefault(strings.Join(topics, "; "), "none"))
	}
	if v := r.SentTimestampReliable; v != nil && !*v {
		p("note: this SQS sets SentTimestamp at receive (goaws), so no figure here is based on it")
	}
	p("wall time: %s", (time.Duration(r.WallSeconds) * time.Second).String())

	p("")
	ht := &table{right: []bool{false, true, false, false}}
	ht.add("HEADLINE", "value", "target", "detail")
	for _, h := range r.Headline {
		v := "n/a"
		if h.Value != nil {
			switch h.Unit {
			case "ratio":
				v = strconv.FormatFloat(*h.Value, 'f', 2, 64)
			case "count":
				v = strconv.FormatFloat(*h.Value, 'f', 0, 64)
			default:
				v = strconv.FormatFloat(*h.Value, 'f', 1, 64) + " " + h.Unit
			}
		}
		ht.add(h.Name, v, h.Target, h.Detail)
	}
	ht.write(out)

	for _, w := range r.Workloads {
		p("")
		p("== %s (%.0f s)", w.Name, w.Seconds)
		if w.Error != "" {
			p("ERROR: %s", strings.ReplaceAll(w.Error, "\n", "\n  "))
		}
		if len(w.Phases) > 0 {
			pt := &table{right: []bool{false, false, true, true, true, true, true, true, true, true}}
			pt.add("phase", "mode", "clients/rate", "ops", "throughput", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
			for _, ph := range w.Phases {
				load := "-"
				switch {
				case ph.Rate > 0:
					load = fmt.Sprintf("%g/s", ph.Rate)
				case ph.Clients > 0:
					load = strconv.Itoa(ph.Clients)
				}
				l := ph.Latency
				if l == nil {
					l = &Latency{}
				}
				lat := func(v float64) string {
					if ph.Latency == nil {
						return "-"
					}
					return fmt.Sprintf("%.1f", v)
				}
				pt.add(ph.Name, ph.Mode, load, strconv.FormatInt(ph.Ops, 10), fmt.Sprintf("%.1f %s", ph.Throughput, ph.Unit),
					lat(l.P50), lat(l.P95), lat(l.P99), lat(l.Max), strconv.FormatInt(ph.ErrorCount, 10))
			}
			pt.write(out)
		}
		for _, ph := range w.Phases {
			p("")
			p("  %s: %s", ph.Name, ph.Note)
			if ph.Error != "" {
				p("    ERROR: %s", ph.Error)
			}
			if len(ph.Errors) > 0 {
				var keys []string
				for k := range ph.Errors {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				var parts []string
				for _, k := range keys {
					parts = append(parts, fmt.Sprintf("%s ×%d", k, ph.Errors[k]))
				}
				p("    errors: %s", strings.Join(parts, ", "))
			}
			if m := ph.Machine; m != nil {
				p("    machine: user %.0f%%, system %.0f%%, softirq %.0f%%, iowait %.0f%%, idle %.0f%%; %.0f context switches/s; CPU outside the measured processes %.1f s (%.0f%% of a core)",
					m.UserPct, m.SystemPct, m.SoftIRQPct, m.IOWaitPct, m.IdlePct, m.ContextSwitches, m.OtherCPUSeconds, 100*m.OtherCPUSeconds/max(ph.Seconds, 0.001))
			}
			if len(ph.Processes) > 0 {
				rt := &table{indent: "    ", right: []bool{false, true, true, true, true, true}}
				rt.add("process", "cpu s", "cpu %", "cpu ms/op", "peak RSS MiB (phase)", "VmHWM MiB (since start)")
				var idle []string
				for _, ps := range ph.Processes {
					if ps.Error != "" && ps.PID == 0 {
						rt.add(ps.Name, "n/a", "", "", "", ps.Error)
						continue
					}
					if ps.CPUSeconds < 0.01 {
						idle = append(idle, ps.Name)
						continue
					}
					rt.add(ps.Name, fmt.Sprintf("%.2f", ps.CPUSeconds), fmt.Sprintf("%.0f", ps.CPUPct), fmt.Sprintf("%.3f", ps.CPUMsPerOp),
						fmt.Sprintf("%.1f", ps.PeakRSSMiB), fmt.Sprintf("%.1f", ps.HWMMiB))
				}
				rt.write(out)
				if len(idle) > 0 {
					p("    idle (under 10 ms of CPU): %s", strings.Join(idle, ", "))
				}
			}
		}
		if f := w.Relay; f != nil {
			r.writeRelay(out, f)
		}
		if f := w.Confirm; f != nil {
			r.writeConfirm(out, f)
		}
	}
}

func (r *Report) writeRelay(out io.Writer, f *RelayFigures) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("")
	p("  relay figures (events read from %s):", orDefault(f.Destination, "n/a"))
	if f.PreloadedEvents > 0 {
		sns := ""
		if f.RawSNSRate != nil {
			sns = fmt.Sprintf("; raw SNS PublishBatch %.0f/s", *f.RawSNSRate)
		}
		p("    drain: %d pre-loaded events (written in %.1f s) drained in %.1f s = %.0f events/s (between 10 %% and 90 %%: %.0f/s); parked %d",
			f.PreloadedEvents, f.PreloadSeconds, f.DrainSeconds, f.DrainRate, f.DrainRate1090, f.ParkedEvents)
		p("    raw SendMessageBatch %.0f messages/s%s", f.RawSQSRate, sns)
	}
	s := f.Steady
	p("    steady: outbox backlog max %d, mean %.0f, at the end %d rows, slope %+.1f rows/s; caught up %.1f s after the load stopped",
		s.BacklogMax, s.BacklogMean, s.BacklogEnd, s.BacklogSlope, s.CatchUpSeconds)
	if s.Lag != nil {
		p("    lag commit → received (harness receive time − occurred_at): p50 %.0f, p95 %.0f, p99 %.0f, max %.0f ms over %d events",
			s.Lag.P50, s.Lag.P95, s.Lag.P99, s.Lag.Max, s.Received)
	} else {
		p("    lag: n/a")
	}
	if s.LagSent != nil && r.SentTimestampReliable != nil && *r.SentTimestampReliable {
		p("    lag commit → SentTimestamp (the relay's send): p50 %.0f, p95 %.0f, p99 %.0f ms", s.LagSent.P50, s.LagSent.P95, s.LagSent.P99)
	}
	if s.Note != "" {
		p("    note: %s", s.Note)
	}
	var series []string
	next := -1e9
	for _, x := range s.Backlog {
		if x.T >= next {
			series = append(series, fmt.Sprintf("%.0fs:%d", x.T, x.Rows))
			next = x.T + 2
		}
	}
	if len(series) > 0 {
		p("    backlog over time (s since the window began : rows): %s", strings.Join(series, " "))
	}
}

func (r *Report) writeConfirm(out io.Writer, f *ConfirmFigures) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("")
	if f.QueueProbe != nil {
		p("  goaws delivery probe (send → receive): p50 %.1f, p95 %.1f, p99 %.1f ms; %s", f.QueueProbe.P50, f.QueueProbe.P95, f.QueueProbe.P99, f.QueueProbeNote)
	} else {
		p("  goaws delivery probe: n/a (%s)", f.QueueProbeNote)
	}
	for _, bd := range f.Breakdowns {
		p("")
		if bd.Matched != nil {
			p("  breakdown: %s (%d requests, %d with both log lines)", bd.Phase, bd.Requests, *bd.Matched)
		} else {
			p("  breakdown: %s (%d requests)", bd.Phase, bd.Requests)
		}
		ct := &table{indent: "    ", right: []bool{false, true, true, true, false}}
		ct.add("component", "p50", "p95", "p99", "derived from")
		for _, c := range bd.Components {
			if c.Dist == nil {
				ct.add(c.Name, "n/a", "", "", c.Source+" — "+c.Missing)
				continue
			}
			unit := ""
			if c.Unit == "ms" {
				unit = " ms"
			}
			f := func(v float64) string { return fmt.Sprintf("%.1f%s", v, unit) }
			ct.add(c.Name, f(c.Dist.P50), f(c.Dist.P95), f(c.Dist.P99), c.Source)
		}
		ct.write(out)
	}
}

func dbSettings(s map[string]string) string {
	var parts []string
	for _, k := range []string{"innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin", "innodb_buffer_pool_size"} {
		v, ok := s[k]
		if !ok {
			continue
		}
		if k == "innodb_buffer_pool_size" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				v = fmt.Sprintf("%d MiB", n>>20)
			}
		}
		parts = append(parts, strings.TrimPrefix(k, "innodb_")+"="+v)
	}
	return strings.Join(parts, ", ")
}

func kv(m map[string]string) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func shortRev(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return orDefault(s, "unknown")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// table lays rows out in columns, each left- or right-aligned.
type table struct {
	indent string
	right  []bool
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(out io.Writer) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		b.WriteString(t.indent)
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			last := i == len(r)-1
			switch {
			case i < len(t.right) && t.right[i]:
				b.WriteString(pad + c)
			case last:
				b.WriteString(c)
			default:
				b.WriteString(c + pad)
			}
			if !last {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
}

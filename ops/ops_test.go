package ops_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"go.yaml.in/yaml/v3"

	"github.com/b2b/backoffice/internal/metrics"
)

// wiredNames are the metrics the services, the relay, the worker and the orchestrator count themselves
// (defined next to the code that counts). The rules and dashboards may use them and nothing else
// beyond packageNames and Prometheus' own up.
func wiredNames() []string {
	return []string{
		"orders_created_total", "orders_confirmed_total", "orders_canceled_total", "orders_rejected_total",
		"orders_stock_conflicts_total", "outbox_events_written_total",
		"worker_commands_total", "worker_command_duration_seconds", "worker_commands_redelivered_total",
		"outbox_events_sent_total", "outbox_send_failures_total", "outbox_send_duration_seconds",
		"orchestrator_answers_total", "orchestrator_confirmation_wait_seconds",
	}
}

// packageNames are the names internal/metrics and the runtime collectors export that the rules and
// dashboards use (checked against the code by TestNamesMatchTheCode).
func packageNames() []string {
	return []string{
		"http_requests_total", "http_request_duration_seconds",
		"outbox_backlog_events", "outbox_oldest_event_age_seconds", "outbox_parked_events",
		"sqs_queue_messages", "sqldb_tx_retries_total", "sqldb_tx_lock_conflicts_total",
		"go_sql_in_use_connections", "go_sql_max_open_connections", "go_sql_wait_duration_seconds_total",
		"go_goroutines", "process_resident_memory_bytes",
	}
}

// recorder keeps the collectors registered through it, so their descriptions can be read even when
// they have no sample yet (pollers before their first read).
type recorder struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

// exportedByPackage returns the metric names internal/metrics registers in a process wired with all
// of it.
func exportedByPackage(t *testing.T) map[string]bool {
	t.Helper()
	reg := metrics.NewRegistry()
	rec := &recorder{Registerer: reg}
	metrics.Middleware(rec)
	connector, err := mysql.NewConnector(mysql.NewConfig()) // never connects: only its pool stats are read
	if err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterDB(rec, sql.OpenDB(connector), "orders"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []prometheus.Collector{
		metrics.TxRetries(),
		metrics.NewOutboxLag(nil, metrics.PollOptions{}),
		metrics.NewQueueDepth(nil, nil, metrics.PollOptions{}),
	} {
		if err := rec.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	ch := make(chan *prometheus.Desc, 100)
	for _, c := range rec.collectors {
		c.Describe(ch)
	}
	close(ch)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// TestNamesMatchTheCode guards the rules and dashboards against a metric renamed in internal/metrics.
func TestNamesMatchTheCode(t *testing.T) {
	got := exportedByPackage(t)
	for _, name := range packageNames() {
		if !got[name] {
			t.Errorf("%s is used by the rules or dashboards but internal/metrics does not export it", name)
		}
	}
}

// known reports whether a selector's metric name is one the processes export (a histogram's _bucket,
// _sum and _count included), or Prometheus' own up.
func known(name string) bool {
	if name == "up" {
		return true
	}
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if ok && (slices.Contains(wiredNames(), base) || slices.Contains(packageNames(), base)) {
			return true
		}
	}
	return false
}

// checkExpr parses expr and checks the metric names it selects.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			if vs.Name == "" || !known(vs.Name) {
				t.Errorf("%s: selects %q, which no process exports", where, vs.String())
			}
		}
		return nil
	})
}

func parseRules(t *testing.T, content []byte) (*rulefmt.RuleGroups, []error) {
	t.Helper()
	return rulefmt.Parse(content, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
}

func loadRules(t *testing.T) map[string]rulefmt.Rule {
	t.Helper()
	b, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := parseRules(t, b)
	for _, err := range errs {
		t.Errorf("alerts.yml: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	rules := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: recording rule %q; only alerts are expected here", g.Name, r.Record)
				continue
			}
			if _, dup := rules[r.Alert]; dup {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			rules[r.Alert] = r
		}
	}
	return rules
}

func TestAlertRules(t *testing.T) {
	rules := loadRules(t)
	for _, name := range []string{"OutboxRelayLagging", "OutboxEventParked", "DeadLetterQueueNotEmpty", "HTTPErrorRateHigh", "OrderWorkerNotConsuming", "TargetDown"} {
		if _, ok := rules[name]; !ok {
			t.Errorf("alert %s missing from alerts.yml", name)
		}
	}
	for name, r := range rules {
		checkExpr(t, "alert "+name, r.Expr)
		if time.Duration(r.For) < time.Minute {
			t.Errorf("alert %s: for %s, want at least 1m so one bad scrape does not page", name, time.Duration(r.For))
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("alert %s: severity %q, want critical or warning", name, s)
		}
		for _, a := range []string{"summary", "description", "runbook"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s: annotation %s missing", name, a)
			}
		}
	}
}

// The rule check is strict: a broken expression, an unknown field, a bad template are errors.
func TestAlertRulesCheckFails(t *testing.T) {
	good, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"broken expression", "expr: max(outbox_parked_events) > 0", "expr: max(outbox_parked_events > 0", "parse"},
		{"unknown field", "        for: 1m\n", "        for: 1m\n        fro: 1m\n", "field fro not found"},
		{"broken template", `{{ $labels.job }} ({{ $labels.instance }})`, `{{ $labels.job ({{ $labels.instance }})`, "template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tc.old, tc.new, 1)
			if bad == string(good) {
				t.Fatalf("%q not found in alerts.yml", tc.old)
			}
			_, errs := parseRules(t, []byte(bad))
			if len(errs) == 0 || !strings.Contains(strings.ToLower(errorsText(errs)), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", errs, tc.want)
			}
		})
	}
}

func errorsText(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}

// scrapeEvery is the interval between the made-up samples, the scrape interval of ops/prometheus.yml.
const scrapeEvery = 15 * time.Second

// loadSeries reads one series a line in promtool's notation (`up{job="x"} 1x20 0x60`), samples
// scrapeEvery apart from time 0, into an in-memory store the PromQL engine can query.
func loadSeries(t *testing.T, text string) seriesStore {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var st seriesStore
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		lset, values, err := p.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("series %q: %v", line, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if !v.Omitted {
				samples = append(samples, floatSample{t: (time.Duration(i) * scrapeEvery).Milliseconds(), f: v.Value})
			}
		}
		st = append(st, storage.NewListSeries(lset, samples))
	}
	return st
}

type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                    { return s.t }
func (floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                  { return s.f }
func (floatSample) H() *histogram.Histogram       { return nil }
func (floatSample) FH() *histogram.FloatHistogram { return nil }
func (floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample         { return s }

// seriesStore is a storage.Queryable (and its own Querier) over a fixed list of series.
type seriesStore []storage.Series

func (s seriesStore) Querier(int64, int64) (storage.Querier, error) { return s, nil }

func (s seriesStore) Select(_ context.Context, sortSeries bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, se := range s {
		lset := se.Labels()
		if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches(lset.Get(m.Name)) }) {
			out = append(out, se)
		}
	}
	if sortSeries {
		slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	}
	return &seriesList{list: out, i: -1}
}

func (seriesStore) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (seriesStore) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (seriesStore) Close() error { return nil }

type seriesList struct {
	list []storage.Series
	i    int
}

func (s *seriesList) Next() bool                      { s.i++; return s.i < len(s.list) }
func (s *seriesList) At() storage.Series              { return s.list[s.i] }
func (*seriesList) Err() error                        { return nil }
func (*seriesList) Warnings() annotations.Annotations { return nil }

// Each alert is evaluated by the PromQL engine on made-up series: it must hold for its whole for:
// window in the situation it is meant for, and not in the healthy one next to it.
func TestAlertsFireWhenTheyShould(t *testing.T) {
	rules := loadRules(t)
	// Samples every 15 s for 20 minutes; evaluated at 15 m.
	const at = 15 * time.Minute
	for _, tc := range []struct {
		alert, name, series string
		fires               bool
		labels              map[string]string
		value               float64 // of the alert at 15 m, when not 0
	}{
		{"OutboxRelayLagging", "oldest event ages past 60 s", `
			outbox_oldest_event_age_seconds{job="orders-api"} 0+15x80
			outbox_oldest_event_age_seconds{job="outbox-relay"} 0+15x80`, true, nil, 900},
		{"OutboxRelayLagging", "relay keeps up", `
			outbox_oldest_event_age_seconds{job="orders-api"} 0 2 0 1 0x76
			outbox_oldest_event_age_seconds{job="outbox-relay"} 0 2 0 1 0x76`, false, nil, 0},
		{"OutboxRelayLagging", "relay down, orders-api still exports the backlog", `
			outbox_oldest_event_age_seconds{job="orders-api"} 0+15x80`, true, nil, 0},

		{"OutboxEventParked", "an event parked", `outbox_parked_events{job="outbox-relay"} 0x20 1x60`, true, nil, 0},
		{"OutboxEventParked", "nothing parked", `outbox_parked_events{job="outbox-relay"} 0x80`, false, nil, 0},

		{"DeadLetterQueueNotEmpty", "a poison command dead-lettered", `
			sqs_queue_messages{job="orders-worker",queue="order-commands-dlq",state="visible"} 0x20 1x60
			sqs_queue_messages{job="orders-worker",queue="order-commands-dlq",state="in_flight"} 0x80
			sqs_queue_messages{job="orchestrator",queue="order-commands-dlq",state="visible"} 0x20 1x60
			sqs_queue_messages{job="orders-worker",queue="order-commands",state="visible"} 3x80`,
			true, map[string]string{"queue": "order-commands-dlq"}, 1},
		{"DeadLetterQueueNotEmpty", "busy main queue, empty dead-letter queue", `
			sqs_queue_messages{job="orders-worker",queue="order-commands-dlq",state="visible"} 0x80
			sqs_queue_messages{job="orders-worker",queue="order-commands",state="visible"} 50x80
			sqs_queue_messages{job="orders-worker",queue="order-commands",state="in_flight"} 4x80`, false, nil, 0},

		{"HTTPErrorRateHigh", "one request in seven fails", `
			http_requests_total{job="orders-api",route="/orders",method="POST",code="2xx"} 0+60x80
			http_requests_total{job="orders-api",route="/orders",method="POST",code="5xx"} 0+10x80
			http_requests_total{job="customers-api",route="/customers",method="GET",code="2xx"} 0+60x80`,
			true, map[string]string{"job": "orders-api"}, 10.0 / 70},
		{"HTTPErrorRateHigh", "one request in a hundred fails", `
			http_requests_total{job="orders-api",route="/orders",method="POST",code="2xx"} 0+100x80
			http_requests_total{job="orders-api",route="/orders",method="POST",code="5xx"} 0+1x80`, false, nil, 0},

		{"OrderWorkerNotConsuming", "commands wait, worker finishes none", `
			sqs_queue_messages{job="orders-worker",queue="order-commands",state="visible"} 3x80
			worker_commands_total{job="orders-worker",outcome="confirmed"} 12x80
			worker_commands_total{job="orders-worker",outcome="retried"} 0+5x80`, true, nil, 0},
		{"OrderWorkerNotConsuming", "commands wait, worker gone (no series at all)", `
			sqs_queue_messages{job="orchestrator",queue="order-commands",state="visible"} 3x80`, true, nil, 0},
		{"OrderWorkerNotConsuming", "commands wait, worker confirming", `
			sqs_queue_messages{job="orders-worker",queue="order-commands",state="visible"} 3x80
			worker_commands_total{job="orders-worker",outcome="confirmed"} 0+4x80`, false, nil, 0},
		{"OrderWorkerNotConsuming", "idle: nothing waits", `
			sqs_queue_messages{job="orders-worker",queue="order-commands",state="visible"} 0x80
			worker_commands_total{job="orders-worker",outcome="confirmed"} 12x80`, false, nil, 0},

		{"TargetDown", "worker down", `up{job="orders-worker",instance="127.0.0.1:9101"} 1x20 0x60`, true, map[string]string{"job": "orders-worker"}, 0},
		{"TargetDown", "all up", `up{job="orders-worker",instance="127.0.0.1:9101"} 1x80`, false, nil, 0},
	} {
		t.Run(tc.alert+"/"+tc.name, func(t *testing.T) {
			r, ok := rules[tc.alert]
			if !ok {
				t.Fatalf("alert %s not in alerts.yml", tc.alert)
			}
			st := loadSeries(t, tc.series)
			engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 100000, Timeout: 10 * time.Second})
			defer engine.Close()
			window := time.Duration(r.For)
			held, last := true, promql.Vector(nil)
			for ts := at - window; ts <= at; ts += scrapeEvery {
				q, err := engine.NewInstantQuery(context.Background(), st, nil, r.Expr, time.Unix(0, 0).Add(ts))
				if err != nil {
					t.Fatal(err)
				}
				res := q.Exec(context.Background())
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				v, err := res.Vector()
				if err != nil {
					t.Fatal(err)
				}
				q.Close()
				if len(v) == 0 {
					held = false
				}
				last = v
			}
			switch {
			case tc.fires && !held:
				t.Fatalf("did not hold for the whole %s window; at %s: %v", window, at, last)
			case !tc.fires && len(last) > 0:
				t.Fatalf("fires at %s: %v", at, last)
			}
			if tc.fires {
				if len(last) != 1 {
					t.Fatalf("got %d alerts, want 1: %v", len(last), last)
				}
				for k, want := range tc.labels {
					if got := last[0].Metric.Get(k); got != want {
						t.Errorf("alert label %s = %q, want %q", k, got, want)
					}
				}
				if got := last[0].F; tc.value != 0 && math.Abs(got-tc.value) > 1e-9 {
					t.Errorf("alert value %v, want %v", got, tc.value)
				}
			}
		})
	}
}

type scrapeConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func loadScrapeConfig(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c scrapeConfig
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if c.Global.ScrapeInterval != "15s" {
		t.Errorf("%s: scrape_interval %q, want 15s (the rules and dashboards assume it)", path, c.Global.ScrapeInterval)
	}
	for _, rf := range c.RuleFiles {
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), rf)); err != nil {
			t.Errorf("%s: rule file %s: %v", path, rf, err)
		}
	}
	if !slices.Contains(c.RuleFiles, "alerts.yml") {
		t.Errorf("%s: rule_files %v, want alerts.yml", path, c.RuleFiles)
	}
	jobs := map[string][]string{}
	for _, sc := range c.ScrapeConfigs {
		if _, dup := jobs[sc.JobName]; dup {
			t.Errorf("%s: job %s twice", path, sc.JobName)
		}
		jobs[sc.JobName] = nil
		for _, s := range sc.StaticConfigs {
			jobs[sc.JobName] = append(jobs[sc.JobName], s.Targets...)
		}
	}
	return jobs
}

// Every process of make run is scraped where it listens: the APIs and the orchestrator on their ports,
// the worker and the relay on their admin addresses (WORKER_ADMIN_ADDR, RELAY_ADMIN_ADDR defaults).
func TestScrapeConfigs(t *testing.T) {
	want := map[string]string{
		"customers-api": "3001",
		"orders-api":    "3002",
		"orchestrator":  "3003",
		"reporting":     "3004",
		"orders-worker": "9101",
		"outbox-relay":  "9102",
	}
	for path, host := range map[string]func(job string) string{
		"prometheus.yml":         func(string) string { return "127.0.0.1" },
		"prometheus-compose.yml": func(job string) string { return job },
	} {
		jobs := loadScrapeConfig(t, path)
		if len(jobs) != len(want) {
			t.Errorf("%s: jobs %v, want %v", path, keys(jobs), keys(want))
		}
		for job, port := range want {
			if got, wantTarget := jobs[job], host(job)+":"+port; len(got) != 1 || got[0] != wantTarget {
				t.Errorf("%s: job %s targets %v, want [%s]", path, job, got, wantTarget)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func TestDashboards(t *testing.T) {
	// The built-in variables the dashboards may use, with a value to parse them with.
	grafanaVariables := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h")
	b, err := os.ReadFile("grafana/provisioning/datasources/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct{ UID, Type, URL string } `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil || len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasource provisioning: %v %+v, want one prometheus datasource", err, ds)
	}
	uid := ds.Datasources[0].UID

	b, err = os.ReadFile("grafana/provisioning/dashboards/backoffice.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(b, &prov); err != nil || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard provisioning: %v %+v, want one file provider with a path", err, prov)
	}

	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string  `json:"uid"`
			Title  string  `json:"title"`
			Panels []panel `json:"panels"`
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Errorf("%s: trailing data after the dashboard", f)
		}
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q title %q, want both", f, d.UID, d.Title)
		}
		ids, exprs := map[int]bool{}, 0
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				where := f + ": panel " + p.Title
				if ids[p.ID] || p.ID == 0 {
					t.Errorf("%s: id %d missing or not unique", where, p.ID)
				}
				ids[p.ID] = true
				if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("%s: gridPos %+v", where, p.GridPos)
				}
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				if p.Datasource == nil || p.Datasource.UID != uid {
					t.Errorf("%s: datasource %+v, want the provisioned uid %q", where, p.Datasource, uid)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: no query", where)
				}
				for _, tg := range p.Targets {
					expr := grafanaVariables.Replace(tg.Expr)
					if strings.Contains(expr, "$") {
						t.Errorf("%s: %q uses a variable the dashboard does not define", where, tg.Expr)
						continue
					}
					checkExpr(t, where, expr)
					exprs++
				}
			}
		}
		walk(d.Panels)
		if exprs < 10 {
			t.Errorf("%s: %d queries; the dashboard looks empty", f, exprs)
		}
	}
}

// The compose file mounts the files these tests check where their configurations expect them, and
// the worker and the relay listen where ops/prometheus-compose.yml scrapes them; .env.example's admin
// addresses are the ones ops/prometheus.yml scrapes.
func TestComposeAndEnvMatch(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string         `yaml:"image"`
			Volumes     []string       `yaml:"volumes"`
			Environment map[string]any `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	mounts := func(service string) map[string]string {
		s, ok := compose.Services[service]
		if !ok {
			t.Fatalf("docker-compose.yml: no %s service", service)
		}
		if !regexp.MustCompile(`:v?\d+\.\d+\.\d+$`).MatchString(s.Image) {
			t.Errorf("%s: image %q, want an exact version tag", service, s.Image)
		}
		m := map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
				if _, err := os.Stat(filepath.Join("..", parts[0])); err != nil {
					t.Errorf("%s mounts %s: %v", service, parts[0], err)
				}
				m[parts[1]] = parts[0]
			}
		}
		return m
	}
	prom := mounts("prometheus")
	if prom["/etc/prometheus/prometheus.yml"] != "./ops/prometheus-compose.yml" || prom["/etc/prometheus/alerts.yml"] != "./ops/alerts.yml" {
		t.Errorf("prometheus mounts %v, want prometheus-compose.yml as /etc/prometheus/prometheus.yml beside alerts.yml", prom)
	}
	graf := mounts("grafana")
	b, err = os.ReadFile("grafana/provisioning/dashboards/backoffice.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Providers []struct{ Options struct{ Path string } } `yaml:"providers"`
	}
	if err := yaml.Unmarshal(b, &prov); err != nil || len(prov.Providers) != 1 {
		t.Fatalf("dashboard provisioning: %v", err)
	}
	if graf["/etc/grafana/provisioning"] != "./ops/grafana/provisioning" || graf[prov.Providers[0].Options.Path] != "./ops/grafana/dashboards" {
		t.Errorf("grafana mounts %v, want the provisioning at /etc/grafana/provisioning and the dashboards at %s", graf, prov.Providers[0].Options.Path)
	}

	compJobs := loadScrapeConfig(t, "prometheus-compose.yml")
	for service, variable := range map[string]string{"orders-worker": "WORKER_ADMIN_ADDR", "outbox-relay": "RELAY_ADMIN_ADDR"} {
		addr, _ := compose.Services[service].Environment[variable].(string)
		_, port, err := net.SplitHostPort(addr)
		if err != nil || len(compJobs[service]) != 1 || compJobs[service][0] != service+":"+port {
			t.Errorf("docker-compose.yml: %s %s=%q, scraped at %v", service, variable, addr, compJobs[service])
		}
	}

	env, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	runJobs := loadScrapeConfig(t, "prometheus.yml")
	for job, variable := range map[string]string{"orders-worker": "WORKER_ADMIN_ADDR", "outbox-relay": "RELAY_ADMIN_ADDR"} {
		m := regexp.MustCompile(`(?m)^` + variable + `=(.*)$`).FindSubmatch(env)
		if m == nil || len(runJobs[job]) != 1 || runJobs[job][0] != string(m[1]) {
			t.Errorf(".env.example: %s %q, scraped at %v", variable, m, runJobs[job])
		}
	}
	if !regexp.MustCompile(`(?m)^PPROF=false$`).Match(env) {
		t.Error(".env.example: want PPROF=false (profiling off unless asked for)")
	}
}

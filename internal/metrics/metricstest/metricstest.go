// Package metricstest reads metrics the way Prometheus does, for tests: it scrapes a /metrics URL or
// gathers a registry, parses the text format, fails the test on any problem the client_golang linter
// finds, and looks values up by name and labels, so a test can assert that a counter went up by one.
package metricstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Snapshot is one scrape: the metric families by name.
type Snapshot map[string]*dto.MetricFamily

// Scrape GETs url, checks that the answer is 200 in the Prometheus text format, parses it, lints it,
// and fails t on any problem.
func Scrape(t testing.TB, url string) Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, want 200: %s", url, resp.StatusCode, body)
	}
	if mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/plain" || params["version"] != "0.0.4" {
		t.Fatalf("scrape %s: Content-Type %q, want the text format (text/plain; version=0.0.4)", url, resp.Header.Get("Content-Type"))
	}
	s, err := Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	if err := Lint(s); err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return s
}

// Gather collects g, lints the result, and fails t on any problem.
func Gather(t testing.TB, g prometheus.Gatherer) Snapshot {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	s := Snapshot{}
	for _, mf := range mfs {
		s[mf.GetName()] = mf
	}
	if err := Lint(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Parse reads the Prometheus text format. Metric and label names must be valid in the classic
// (legacy) character set, as the naming conventions require.
func Parse(r io.Reader) (Snapshot, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics text: %w", err)
	}
	return Snapshot(mfs), nil
}

// Lint runs client_golang's metric linter (naming, units, help texts) over s and returns every
// problem found as one error.
func Lint(s Snapshot) error {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	mfs := make([]*dto.MetricFamily, 0, len(s))
	for _, name := range names {
		mfs = append(mfs, s[name])
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		return fmt.Errorf("lint metrics: %w", err)
	}
	if len(problems) == 0 {
		return nil
	}
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = fmt.Sprintf("  %s: %s", p.Metric, p.Text)
	}
	return fmt.Errorf("metric lint found %d problem(s):\n%s", len(problems), strings.Join(lines, "\n"))
}

// Sum is the total of the series of name whose labels include the given label pairs ("route",
// "/orders/{id}", "code", "2xx"); 0 when none matches. For a histogram or summary, name may end in
// _count or _sum to read its sample count or sum.
func (s Snapshot) Sum(name string, labels ...string) float64 {
	var total float64
	for _, v := range s.values(name, labels) {
		total += v
	}
	return total
}

// Series is the number of series of name whose labels include the given label pairs.
func (s Snapshot) Series(name string, labels ...string) int { return len(s.values(name, labels)) }

// Value is the value of the one series of name whose labels include the given label pairs; it fails t
// when none or several match.
func (s Snapshot) Value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	vs := s.values(name, labels)
	if len(vs) != 1 {
		t.Fatalf("metric %s%v: got %d matching series, want 1", name, labels, len(vs))
	}
	return vs[0]
}

// Labels returns the label sets of the series of name, for messages and cardinality checks.
func (s Snapshot) Labels(name string) []map[string]string {
	mf, _ := s.family(name)
	if mf == nil {
		return nil
	}
	out := make([]map[string]string, 0, len(mf.GetMetric()))
	for _, m := range mf.GetMetric() {
		ls := map[string]string{}
		for _, lp := range m.GetLabel() {
			ls[lp.GetName()] = lp.GetValue()
		}
		out = append(out, ls)
	}
	return out
}

// family finds the family of name, or of the histogram or summary whose _count or _sum it is.
func (s Snapshot) family(name string) (*dto.MetricFamily, string) {
	if mf, ok := s[name]; ok {
		return mf, ""
	}
	for _, suffix := range []string{"_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if mf, ok := s[base]; ok && (mf.GetType() == dto.MetricType_HISTOGRAM || mf.GetType() == dto.MetricType_SUMMARY) {
				return mf, suffix
			}
		}
	}
	return nil, ""
}

func (s Snapshot) values(name string, labels []string) []float64 {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("metricstest: labels of %s must be name/value pairs, got %q", name, labels))
	}
	mf, part := s.family(name)
	if mf == nil {
		return nil
	}
	var out []float64
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		out = append(out, value(mf.GetType(), m, part))
	}
	return out
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i < len(pairs); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == pairs[i] && lp.GetValue() == pairs[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func value(typ dto.MetricType, m *dto.Metric, part string) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		if part == "_sum" {
			return m.GetHistogram().GetSampleSum()
		}
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		if part == "_sum" {
			return m.GetSummary().GetSampleSum()
		}
		return float64(m.GetSummary().GetSampleCount())
	default:
		return m.GetUntyped().GetValue()
	}
}

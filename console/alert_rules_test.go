package console

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/hashgate/hashgate/internal/testpeer"
)

// exportedMetrics are the metric names /metrics describes.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	s := newServer(t, DefaultConfig(), newFleetBackend(1, true))
	ch := make(chan *prometheus.Desc, 256)
	go func() {
		s.metrics.Describe(ch)
		close(ch)
	}()
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	if len(names) < 40 {
		t.Fatalf("only %d metrics described", len(names))
	}
	return names
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promTokens    = regexp.MustCompile(`\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*|[a-zA-Z_:][a-zA-Z0-9_:]*|\S`)
	promOperators = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
		"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}
	promGroupings = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
)

// promMetricNames returns the metric names a PromQL expression selects: identifiers that are
// not functions (followed by "("), aggregations, operators, label lists of by/on/... or
// numbers and durations. Label matchers, ranges and strings are dropped first.
func promMetricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, "{}")
	e = promRanges.ReplaceAllString(e, "[]")
	toks := promTokens.FindAllString(e, -1)
	var out []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case promGroupings[tok]:
			if next == "(" {
				for i < len(toks) && toks[i] != ")" {
					i++
				}
			}
		case promOperators[tok], next == "(", tok[0] >= '0' && tok[0] <= '9':
		case tok[0] == '_' || tok[0] == ':' || tok[0] >= 'a' && tok[0] <= 'z' || tok[0] >= 'A' && tok[0] <= 'Z':
			out = append(out, tok)
		}
	}
	return out
}

func TestPromMetricNames(t *testing.T) {
	got := promMetricNames(`sum by (job, instance) (rate(foo_total{a="b", c=~"x|y"}[5m])) > 0
		and on (job) group_left (pool) max_over_time(bar[1h:1m]) < 0.5 * baz offset 5m or vector(0) == bool up{job="hashgate"}
		/ clamp_min(max without (x) (qux), 1e-9)`)
	if want := []string{"foo_total", "bar", "baz", "up", "qux"}; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

// alertRules is deploy/prometheus/alerts.yml.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRulesAndDashboardMetricsExist: every metric an alert rule or a dashboard panel
// selects is one hashgate exports (or Prometheus's own up and ALERTS), so neither can watch
// a series that never comes; every rule has a severity, a summary and a description.
func TestAlertRulesAndDashboardMetricsExist(t *testing.T) {
	names := exportedMetrics(t)
	b, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			for _, n := range promMetricNames(r.Expr) {
				if !names[n] && n != "up" {
					t.Errorf("alert %s selects %s, which /metrics does not export", r.Alert, n)
				}
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a summary or description", r.Alert)
			}
		}
	}
	for _, want := range []string{"HashgateDown", "HashgateNoPoolUp", "HashgatePoolDown", "HashgateMeterStale", "HashgateSiteOverLimit",
		"HashgateFleetSafeFloor", "HashgateMinersOffline", "HashgateNoMiners", "HashgateStoreFailing"} {
		if !alerts[want] {
			t.Errorf("alerts.yml lacks %s", want)
		}
	}

	db, err := os.ReadFile("../deploy/grafana/dashboards/hashgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(db, &dash); err != nil {
		t.Fatal(err)
	}
	selected := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range promMetricNames(tg.Expr) {
				selected++
				if !names[n] && n != "ALERTS" {
					t.Errorf("panel %q selects %s, which /metrics does not export", p.Title, n)
				}
			}
		}
	}
	if selected < len(dash.Panels) {
		t.Fatalf("%d metrics selected by %d panels", selected, len(dash.Panels))
	}
}

// promtool returns the promtool binary: installed by scripts/test (Debian package prometheus).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testpeer.MissingPeer(t, "promtool (apt-get install prometheus)")
	}
	return p
}

// TestPrometheusAlertRules runs promtool on the shipped configuration: prometheus.yml and the
// rule file it loads are valid, and alerts.yml passes its unit tests (alerts_test.yml: each
// alert fires after its hold time on recorded series, and not on the near misses).
func TestPrometheusAlertRules(t *testing.T) {
	pt := promtool(t)
	dir := filepath.Join("..", "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if !strings.Contains(string(out), "SUCCESS") {
			t.Fatalf("promtool %s said no SUCCESS:\n%s", strings.Join(args, " "), out)
		}
	}
}

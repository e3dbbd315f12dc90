package console

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestEveryMetricIsDocumented: each series /metrics can export, counters of a CounterReader
// included, has a row in docs/api.md's metrics table and HELP text.
func TestEveryMetricIsDocumented(t *testing.T) {
	s := newServer(t, DefaultConfig(), newFleetBackend(1, true))
	ch := make(chan *prometheus.Desc, 256)
	s.metrics.Describe(ch)
	close(ch)
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	table := string(doc)
	if i := strings.Index(table, "## Metrics"); i >= 0 {
		table = table[i:]
	}
	fq := regexp.MustCompile(`fqName: "hashgate_([a-z0-9_]+)", help: "([^"]*)"`)
	n := 0
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("unexpected desc %s", d)
		}
		n++
		if !strings.Contains(table, "`"+m[1]+"`") {
			t.Errorf("hashgate_%s is not in docs/api.md's metrics table", m[1])
		}
		if len(m[2]) < 10 {
			t.Errorf("hashgate_%s: help %q", m[1], m[2])
		}
	}
	if n < 60 {
		t.Fatalf("%d metrics described", n)
	}
}

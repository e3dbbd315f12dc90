package console

import (
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDashboardMetricsExist checks every metric the Grafana dashboard queries is one the
// console describes.
func TestDashboardMetricsExist(t *testing.T) {
	s := newServer(t, DefaultConfig(), newFleetBackend(1, true))
	ch := make(chan *prometheus.Desc, 128)
	s.metrics.Describe(ch)
	close(ch)
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	b, err := os.ReadFile("../deploy/grafana/dashboards/hashgate.json")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`hashgate_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) == 0 {
		t.Fatal("the dashboard queries nothing")
	}
	for _, n := range used {
		if !names[n] {
			t.Errorf("dashboard queries %s, which /metrics does not export", n)
		}
	}
}

package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPausedSharesCountAsRejected: a paused miner's shares (answered as rejected by the proxy)
// count in the worker's and the overview's rejected totals, have their own label in the row's
// breakdown and their own result in the per-group and per-worker metrics.
func TestPausedSharesCountAsRejected(t *testing.T) {
	b := newFleetBackend(2, true)
	b.workers[0].State = "paused"
	b.workers[0].Shares["paused"] = 7
	b.status.Shares["paused"] = 7

	v := buildView(b, time.Now())
	r := v.workers[0]
	if r.Rejects.Paused != 7 || r.Rejected != 7 || r.Accepted != 100 {
		t.Fatalf("paused worker row: accepted %d rejected %d rejects %+v", r.Accepted, r.Rejected, r.Rejects)
	}
	if v.overview.Rejected != 3+7 { // 3 stale and 7 paused in the proxy's status
		t.Fatalf("overview rejected %d, want 10", v.overview.Rejected)
	}

	cfg := authConfig()
	cfg.PublicMetrics = true
	cfg.MetricsWorkerCap = 2
	s := newServer(t, cfg, b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	code, body, _ := newClient(t, ts.URL).do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, body)
	for _, line := range []string{
		`hashgate_shares_total{result="paused"} 7`,
		`hashgate_group_shares_total{group="rack1",result="paused"} 7`,
		`hashgate_worker_shares_total{result="paused",worker="rack1.m00000"} 7`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPoolHealthFields: a pool's worker naming, its unknown and unforwarded counts reach the
// pools API as the proxy reports them, and the counts reach /metrics.
func TestPoolHealthFields(t *testing.T) {
	cfg := authConfig()
	cfg.PublicMetrics = true
	b := newFleetBackend(1, false)
	b.pools[0].WorkerNames = "pool_user"
	b.pools[0].WorkerNamesReason = "no answer to the authorize of acct.rig1 within worker_auth_timeout"
	b.pools[0].Unknown, b.pools[0].Unforwarded = 3, 7
	s := newServer(t, cfg, b)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	c.auth = "Bearer " + viewerToken
	s.hub.forceTick()

	code, body, _ := c.do("GET", "/api/v1/pools", "")
	want(t, "pools", code, http.StatusOK, body)
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil || len(rows) != 1 {
		t.Fatalf("pools: %s (%v)", body, err)
	}
	r := rows[0]
	if r["worker_names"] != "pool_user" || !strings.Contains(r["worker_names_reason"].(string), "worker_auth_timeout") ||
		r["unknown"] != 3.0 || r["unforwarded"] != 7.0 {
		t.Fatalf("pool row %v", r)
	}

	code, body, _ = c.do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, body)
	for _, line := range []string{
		`hashgate_pool_unknown_total{pool="main"} 3`,
		`hashgate_pool_unforwarded_total{pool="main"} 7`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

package proxy

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
)

// refusedAddr is a loopback address nothing listens on: a dial there is refused.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestPoolRowNeverConnected: a pool whose dial is refused is down with the dial error as its
// reason, and has no last job (absent from the JSON, not year 0001).
func TestPoolRowNeverConnected(t *testing.T) {
	addr := refusedAddr(t)
	px, _ := startProxy(t, testConfig(addr), Options{})
	var row PoolStats
	eventually(t, "the dial error as the pool's reason", func() bool {
		row = px.Pools()[0]
		return strings.Contains(row.Reason, "connect: connection refused")
	})
	if row.State != "down" || !strings.HasPrefix(row.Reason, "dial tcp "+addr+": ") || row.LastJob != nil {
		t.Fatalf("never-connected pool row: state %q reason %q last job %v", row.State, row.Reason, row.LastJob)
	}
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "last_job") || strings.Contains(string(b), "0001-01-01") {
		t.Fatalf("never-connected pool JSON carries a last job: %s", b)
	}
}

// TestPoolRowLastJobAndReasonCleared: once the pool answers, the row is up with a last job
// and no reason; the earlier dial error is gone.
func TestPoolRowLastJobAndReasonCleared(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, _ := startProxy(t, testConfig(paddr), Options{})
	eventually(t, "the pool up", func() bool { return px.Pools()[0].State == "up" })
	row := px.Pools()[0]
	if row.LastJob == nil || row.LastJob.IsZero() || row.Reason != "" {
		t.Fatalf("up pool row: last job %v reason %q", row.LastJob, row.Reason)
	}
}

// TestPoolStaleRejects: the pool's rejections for a stale job are counted per pool, in both
// protocols' words; other rejections are not.
func TestPoolStaleRejects(t *testing.T) {
	px, _ := startProxy(t, testConfig(refusedAddr(t)), Options{})
	pl := px.poolList()[0]
	for _, r := range []string{"Job not found (=stale)", "stale-share", "Stale share", "job not found"} {
		pl.logReject("w", "1", r)
	}
	for _, r := range []string{"Low difficulty share", "Duplicate share", "invalid-job-id", ""} {
		pl.logReject("w", "1", r)
	}
	if got := px.Pools()[0].Stale; got != 4 {
		t.Fatalf("stale rejections: %d, want 4", got)
	}
}

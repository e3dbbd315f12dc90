package proxy

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// rejectLines are the "pool rejected a share" lines logged so far.
func rejectLines(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	logs.mu.Lock()
	text := logs.b.String()
	logs.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["message"] == "pool rejected a share" {
			out = append(out, m)
		}
	}
	return out
}

// TestPoolsRejectsLoggedRateLimited: a pool that rejects every share floods nothing: the first
// reject is logged at info with pool, worker, job and the pool's reason, the rest of the
// minute only counted, and the next line after the minute says how many were left out.
func TestPoolsRejectsLoggedRateLimited(t *testing.T) {
	sp, paddr := startPool(t, nil)
	logs, log := logSink()
	clk := clock.NewManual(time.Now())
	cfg := testConfig(paddr)
	cfg.RejectWindow = 100000 // only one pool: keep it active through the storm
	cfg.SubmitRate = 1e6      // the submit limiter refills on the proxy's clock, which stands still here
	px, addr := startProxy(t, cfg, Options{Logger: log, Clock: clk})
	startMiners(t, addr, 2, "rackR", nil)
	eventually(t, "mining", func() bool { return sp.Accepted() > 3 })

	sp.SetMode(simpool.RejectAll)
	eventually(t, "a reject storm through the proxy", func() bool { return px.Pools()[0].Shares["pool_rejected"] > 30 })
	lines := rejectLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("%d reject lines for %d rejects, want 1", len(lines), sp.Rejected())
	}
	l := lines[0]
	w, _ := l["worker"].(string)
	if l["level"] != "info" || l["pool"] != "pool0" || !strings.HasPrefix(w, "rackR.m") || l["job"] == "" ||
		l["reason"] != "Rejected by simulation" || l["suppressed"] != 0.0 {
		t.Fatalf("reject line %v", l)
	}
	clk.Advance(rejectLogEvery)
	eventually(t, "the next line after the interval", func() bool { return len(rejectLines(t, logs)) == 2 })
	l = rejectLines(t, logs)[1]
	if n, _ := l["suppressed"].(float64); n < 30 || uint64(n) >= sp.Rejected() {
		t.Fatalf("suppressed %v, want at least 30 and fewer than the %d rejects sent", l["suppressed"], sp.Rejected())
	}
}

// TestPoolsRejectLogBounds: reasons come from the pool, so their number and length are
// bounded: digits do not make a new reason, a flood of distinct reasons shares one entry past
// maxRejectReasons, and a reason the size of a whole line is clipped.
func TestPoolsRejectLogBounds(t *testing.T) {
	var l rejectLog
	now := time.Now()
	if ok, _ := l.allow(now, "Low difficulty share (1.5e-06)"); !ok {
		t.Fatal("first reject not logged")
	}
	if ok, _ := l.allow(now, "Low difficulty share (3.25e-07)"); ok {
		t.Fatal("the same reason with other numbers logged again")
	}
	for i := 0; i < 1000; i++ {
		l.allow(now, strings.Repeat("x", i%50+1)+"/"+strings.Repeat("y", i/50+1))
	}
	if n := len(l.notes); n > maxRejectReasons {
		t.Fatalf("%d reasons remembered, bound %d", n, maxRejectReasons)
	}
	if ok, left := l.allow(now.Add(rejectLogEvery), "Low difficulty share (9e-09)"); !ok || left != 1 {
		t.Fatalf("after the interval: logged %v, left out %d", ok, left)
	}
	long := strings.Repeat("é", 40000) // a whole 64 KiB line of reason, multi-byte runes
	if c := clipReason(long); len(c) > maxReasonLen || !strings.HasPrefix(long, c) || len(c) < maxReasonLen-1 {
		t.Fatalf("clipped to %d bytes", len(c))
	}
	if k := reasonKey("job 12 of 3.45e-06."); k != "job # of #e-#." {
		t.Fatalf("reason key %q", k)
	}
}

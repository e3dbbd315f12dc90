package proxy

import (
	"testing"
	"time"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/work"
)

// TestPoolsUnansweredCandidatesDoNotFailThePoolOver: on a test network a pool may ignore a
// block candidate that missed its share target. Those submits time out as unknown, but they
// say nothing about the pool's share path, so however many there are the pool stays up.
func TestPoolsUnansweredCandidatesDoNotFailThePoolOver(t *testing.T) {
	const poolDiff = 1e-5 // far above regtest's network difficulty
	sp, paddr := startPool(t, func(c *simpool.Config) { c.NBits, c.Difficulty = 0x207fffff, poolDiff })
	cfg := testConfig(paddr)
	cfg.SubmitTimeout = Duration(500 * time.Millisecond)
	px, addr := startProxy(t, cfg, Options{})
	m := dialShareMiner(t, addr, "rack9.quiet")
	sp.SetMode(simpool.SilentSubmits)
	poolT := work.MustTarget(poolDiff)
	const n = submitTimeoutFailover + 2
	for i := range n {
		s := m.find(func(h *[32]byte) bool { return !poolT.Met(h) && m.job.NetworkTarget().Met(h) })
		if r := m.submit(s); !r.Accepted() {
			t.Fatalf("candidate %d: %v", i, r.Error)
		}
	}
	eventually(t, "every candidate's submit to time out", func() bool { return px.Pools()[0].Unknown == n })
	px.maybeFailover() // a supervise round's failover decision after the last timeout, now (a sleep may not see one)
	if row := px.Pools()[0]; row.State != "up" || px.Status().ActivePool != "pool0" {
		t.Fatalf("pool %s (%q) after %d unanswered below-target candidates; want up", row.State, row.Reason, n)
	}
}

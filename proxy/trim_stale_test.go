package proxy

import (
	"testing"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/work"
)

// TestTrimmedJobStaleAfterBlock: a paused miner is offered no new work, so the job it holds
// stays in its ring; when more than the group's live list has room for are published before
// the block changes, that job is cut from the list before the block's retire comes. A block
// candidate found on it afterwards is on the old prevhash and must be answered as stale, not
// forwarded to the pool.
func TestTrimmedJobStaleAfterBlock(t *testing.T) {
	const worker = "rack9.m02"
	sp, paddr := startPool(t, func(c *simpool.Config) { c.NBits = 0x207fffff }) // regtest: blocks are easy
	px, addr := startProxy(t, testConfig(paddr), Options{})
	m := dialShareMiner(t, addr, worker)
	px.Pause(worker)
	// More same-block jobs than the live list keeps: the miner's job is trimmed from it.
	for i := 0; i < 5*maxJobsPerChannel; i++ {
		before := px.nextJob.Load()
		sp.NewJob()
		eventually(t, "the proxy to publish the pool's job", func() bool { return px.nextJob.Load() > before })
	}
	before := px.nextJob.Load()
	sp.NewBlock()
	eventually(t, "the proxy to publish the new block", func() bool {
		g := px.groups[0]
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.cur != nil && g.cur.seq > before && g.cur.retire
	})
	poolT := work.MustTarget(1e-5)
	s := m.find(func(h *[32]byte) bool { return poolT.Met(h) && m.job.NetworkTarget().Met(h) })
	r := m.submit(s)
	if r.Accepted() || r.Error == nil || r.Error.Code != codeStale {
		t.Fatalf("block candidate on a trimmed job of the old block: %s %v, want stale (%d)", r.Result, r.Error, codeStale)
	}
	if n := sp.Blocks(); n != 0 {
		t.Fatalf("pool received %d blocks on a stale prevhash", n)
	}
	if w := workerRow(t, px, worker); w.Shares["block_candidate"] != 0 || w.Shares["forwarded"] != 0 {
		t.Fatalf("stale share counted as %v", w.Shares)
	}
}

// TestTrimmedListBounded: a pool that never sends a clean job cannot grow a group's trimmed
// list past maxTrimmed; the oldest are marked stale when they fall off, the newer wait for the
// next retire, which marks every one of them.
func TestTrimmedListBounded(t *testing.T) {
	g := &group{}
	var all []*proxyJob
	for i := range maxTrimmed + 10*maxJobsPerChannel {
		pj := &proxyJob{seq: uint64(i + 1)}
		all = append(all, pj)
		g.live = append(g.live, pj)
		g.trimLive()
		if len(g.live) > 4*maxJobsPerChannel || len(g.trimmed) > maxTrimmed {
			t.Fatalf("after %d jobs: live %d, trimmed %d", i+1, len(g.live), len(g.trimmed))
		}
	}
	held := map[*proxyJob]bool{}
	for _, pj := range append(append([]*proxyJob(nil), g.live...), g.trimmed...) {
		held[pj] = true
	}
	for i, pj := range all {
		if held[pj] == pj.superseded.Load() {
			t.Fatalf("job %d: held %v, superseded %v", i+1, held[pj], pj.superseded.Load())
		}
	}
	if len(held) <= maxTrimmed {
		t.Fatalf("only %d jobs kept; want the trimmed list full plus live", len(held))
	}
	g.supersede(func(*proxyJob) bool { return false })
	for i, pj := range all {
		if !pj.superseded.Load() {
			t.Fatalf("job %d not marked stale by the retire", i+1)
		}
	}
	if len(g.live)+len(g.trimmed) != 0 {
		t.Fatalf("retire left live %d, trimmed %d", len(g.live), len(g.trimmed))
	}
}

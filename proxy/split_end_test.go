package proxy

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// TestSplitEndHandsOutTheRemainingPoolsWork: a 50/50 split ends while pool1's job is the
// group's latest, because pool1 is weighted 0, removed, or goes down. A miner connecting then
// is given pool0's work and its share is accepted there, and the re-announce 45 s later
// sends pool0's work again, not pool1's: every miner stays on pool0. Before, the group's
// current job stayed pool1's superseded one: the new miner's shares were answered stale, and
// the re-announce published pool1's work to the whole fleet.
func TestSplitEndHandsOutTheRemainingPoolsWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, px *Proxy, pool1 *simpool.Pool, clk *clock.Manual)
	}{
		{"weight 0", func(t *testing.T, px *Proxy, _ *simpool.Pool, _ *clock.Manual) {
			pcs := px.PoolConfigs()
			pcs[1].Weight = 0
			if err := px.SetPools(pcs); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", func(t *testing.T, px *Proxy, _ *simpool.Pool, _ *clock.Manual) {
			if err := px.SetPools(px.PoolConfigs()[:1]); err != nil {
				t.Fatal(err)
			}
		}},
		{"down", func(t *testing.T, px *Proxy, pool1 *simpool.Pool, clk *clock.Manual) {
			pool1.Close()
			waitFor(t, "the proxy to see pool1 down", func() bool { return px.Pools()[1].State == "down" })
			clk.Advance(time.Second) // one failover check
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pools, clk, px, addr := startSilentSplit(t, 561)
			first := dialShareMiner(t, addr, "end.first")
			g := px.groupFor(0)
			px.openLanes(g)
			pool0, pool1 := px.poolList()[0], px.poolList()[1]
			before := px.nextJob.Load()
			pools[1].NewJob()
			waitFor(t, "pool1's job the group's latest", func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				return g.cur != nil && g.cur.pool == pool1 && g.cur.seq > before
			})
			tc.end(t, px, pools[1], clk)
			waitFor(t, "the split ended", func() bool { return !px.split.running() })
			g.mu.Lock()
			cur := g.cur
			g.mu.Unlock()
			if cur.pool != pool0 || cur.stale() {
				t.Errorf("after the split ended the group's job is %s's (stale %v)", cur.pool.cfg.Name, cur.stale())
			}

			late := dialShareMiner(t, addr, "end.late")
			// The only share of the test (the pool may count it under the account alone,
			// before the worker's own authorize is answered).
			if r := late.submit(late.find(anyShare)); !r.Accepted() {
				t.Errorf("share of a miner connecting after the split ended: %s %v", r.Result, r.Error)
			} else {
				waitFor(t, "the late miner's share at pool0", func() bool { return pools[0].Accepted() == 1 })
			}

			// The re-announce: 45 s after pool0's work was made, it is sent again under a
			// new id to every miner.
			seq := px.nextJob.Load()
			var re *proxyJob
			advanceUntil(t, clk, "the re-announce", func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				re = g.cur
				return re.seq > seq && re.created.After(cur.created)
			})
			if re.pool != pool0 {
				t.Fatalf("the re-announce published %s's work after the split ended on pool0", re.pool.cfg.Name)
			}
			for _, m := range []*shareMiner{first, late} {
				c := channelOf(t, px, m.worker)
				waitFor(t, m.worker+" sent the re-announced work", func() bool {
					c.mu.Lock()
					defer c.mu.Unlock()
					return c.lastSent != nil && c.lastSent.seq >= re.seq
				})
				c.mu.Lock()
				on := c.lastSent.pool
				c.mu.Unlock()
				if on != pool0 {
					t.Errorf("%s mines %s after the re-announce", m.worker, on.cfg.Name)
				}
			}
		})
	}
}

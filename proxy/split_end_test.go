package proxy

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// TestSplitEndHandsOutTheRemainingPoolsWork: a 50/50 split ends while the departing pool's
// job is the group's latest, because that pool is weighted 0, removed, or goes down (pool1,
// or pool0, the one shown active). A miner connecting then is given the remaining pool's work
// and its share is accepted there, and the re-announce 45 s later sends that pool's work
// again, not the departed one's: every miner stays on it. Before, the group's current job
// stayed the departed pool's superseded one: the new miner's shares were answered stale, and
// the re-announce published the departed pool's work to the whole fleet.
func TestSplitEndHandsOutTheRemainingPoolsWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		gone int // the pool that leaves
		end  func(t *testing.T, px *Proxy, gone *simpool.Pool, clk *clock.Manual)
	}{
		{"weight 0", 1, func(t *testing.T, px *Proxy, _ *simpool.Pool, _ *clock.Manual) {
			pcs := px.PoolConfigs()
			pcs[1].Weight = 0
			if err := px.SetPools(pcs); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", 1, func(t *testing.T, px *Proxy, _ *simpool.Pool, _ *clock.Manual) {
			if err := px.SetPools(px.PoolConfigs()[:1]); err != nil {
				t.Fatal(err)
			}
		}},
		{"down", 1, func(t *testing.T, px *Proxy, gone *simpool.Pool, clk *clock.Manual) {
			gone.Close()
			waitFor(t, "the proxy to see pool1 down", func() bool { return px.Pools()[1].State == "down" })
			clk.Advance(time.Second) // one failover check
		}},
		{"active down", 0, func(t *testing.T, px *Proxy, gone *simpool.Pool, clk *clock.Manual) {
			if px.Status().ActivePool != "pool0" {
				t.Fatalf("active pool %q, want pool0", px.Status().ActivePool)
			}
			gone.Close()
			waitFor(t, "the proxy to see pool0 down", func() bool { return px.Pools()[0].State == "down" })
			clk.Advance(time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pools, clk, px, addr := startSilentSplit(t, 561)
			first := dialShareMiner(t, addr, "end.first")
			g := px.groupFor(0)
			px.openLanes(g)
			left, stays := px.poolList()[tc.gone], px.poolList()[1-tc.gone]
			before := px.nextJob.Load()
			pools[tc.gone].NewJob()
			waitFor(t, left.cfg.Name+"'s job the group's latest", func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				return g.cur != nil && g.cur.pool == left && g.cur.seq > before
			})
			tc.end(t, px, pools[tc.gone], clk)
			waitFor(t, "the split ended", func() bool { return !px.split.running() })
			g.mu.Lock()
			cur := g.cur
			g.mu.Unlock()
			if cur.pool != stays || cur.stale() {
				t.Errorf("after the split ended the group's job is %s's (stale %v)", cur.pool.cfg.Name, cur.stale())
			}

			late := dialShareMiner(t, addr, "end.late")
			// The only share of the test (the pool may count it under the account alone,
			// before the worker's own authorize is answered).
			if r := late.submit(late.find(anyShare)); !r.Accepted() {
				t.Errorf("share of a miner connecting after the split ended: %s %v", r.Result, r.Error)
			} else {
				waitFor(t, "the late miner's share at "+stays.cfg.Name, func() bool { return pools[1-tc.gone].Accepted() == 1 })
			}

			// The re-announce: 45 s after the remaining pool's work was made, it is sent
			// again under a new id to every miner.
			seq := px.nextJob.Load()
			var re *proxyJob
			advanceUntil(t, clk, "the re-announce", func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				re = g.cur
				return re.seq > seq && re.created.After(cur.created)
			})
			if re.pool != stays {
				t.Fatalf("the re-announce published %s's work after the split ended on %s", re.pool.cfg.Name, stays.cfg.Name)
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
				if on != stays {
					t.Errorf("%s mines %s after the re-announce", m.worker, on.cfg.Name)
				}
			}
		})
	}
}

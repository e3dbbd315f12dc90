package proxy

import (
	"strconv"
	"testing"
)

// TestSplitResumeFallsBackToTheGroupsWork: a miner paused in a 50/50 split is resumed while
// the pool its schedule gives it has just gone down (its connection has no work, and no
// failover check has taken it out of the split yet: the clock does not move). It is sent the
// other pool's work at once as a clean job under an id it never had, and its share is
// accepted there. Before, Resume offered the scheduled pool's work or nothing: the miner
// read no job at all.
func TestSplitResumeFallsBackToTheGroupsWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		// moved: the paused miner's schedule moves it to the other pool before that pool
		// goes down, so the work it falls back to is the job it already holds.
		moved bool
	}{
		{"scheduled pool mined last", false},
		{"schedule moved while paused", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pools, clk, px, addr := startSilentSplit(t, 591)
			worker := "fall.m" + strconv.FormatBool(tc.moved)
			m := dialShareMiner(t, addr, worker)
			c := channelOf(t, px, worker)
			g := px.groupFor(0)
			simOf := func(pl *pool) int {
				if pl == px.poolList()[0] {
					return 0
				}
				return 1
			}
			px.openLanes(g) // the group came with the miner, after the split started
			g.mu.Lock()
			lanes := len(g.lanes)
			g.mu.Unlock()
			if lanes != 2 {
				t.Fatalf("%d pools' work in the group, want both", lanes)
			}
			px.Pause(worker)
			last := minedPool(c)
			if tc.moved {
				advanceUntil(t, clk, "the paused miner's schedule on the other pool", func() bool {
					pl := px.split.scheduled(c)
					return pl != nil && pl != last
				})
			}
			sched := px.split.scheduled(c)
			if sched == nil || tc.moved == (sched == last) {
				t.Fatalf("scheduled on %v, mined %s last", sched, last.cfg.Name)
			}
			other := px.poolList()[1-simOf(sched)]
			c.mu.Lock()
			held := c.lastSent
			c.mu.Unlock()

			// The scheduled pool goes down; from here on the clock stays put, so the split
			// still counts it a member.
			pools[simOf(sched)].Close()
			waitFor(t, sched.cfg.Name+"'s connection without work", func() bool {
				u := sched.conn(0)
				return u != nil && u.current() == nil && !u.up()
			})
			if px.split.scheduled(c) != sched {
				t.Fatalf("%s is no longer the miner's scheduled pool", sched.cfg.Name)
			}

			px.Resume(worker)
			clean := m.nextJob() // 30 s read deadline: the miner hears nothing before
			if !clean {
				t.Errorf("the job given at resume is not clean")
			}
			var got *proxyJob
			waitFor(t, "the resumed miner's job recorded", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				got = c.lastSent
				return got != nil && got.localID == m.jobID
			})
			if got.pool != other || got.stale() {
				t.Fatalf("resumed on %s's work (stale %v), want %s's", got.pool.cfg.Name, got.stale(), other.cfg.Name)
			}
			if got == held || m.jobID == held.localID {
				t.Fatalf("resumed on job %s, the one it held while paused", m.jobID)
			}
			// The miner's only share (the pool may count it under the account alone, before
			// the worker's own authorize is answered).
			if r := m.submit(m.find(anyShare)); !r.Accepted() {
				t.Fatalf("share on the work given at resume: %s %v", r.Result, r.Error)
			}
			waitFor(t, "the share counted at "+other.cfg.Name, func() bool { return pools[simOf(other)].Accepted() == 1 })
		})
	}
}

// TestSplitResumeOffersNoDeadWork: both pools of a split go down while a miner is paused
// (no failover check yet: the clock does not move). Resuming it offers nothing: each pool's
// work in the group came from a session that is gone, and a share on it could reach no pool.
// The miner stays connected and its shares are answered.
func TestSplitResumeOffersNoDeadWork(t *testing.T) {
	pools, _, px, addr := startSilentSplit(t, 611)
	const worker = "dead.m0"
	m := dialShareMiner(t, addr, worker)
	c := channelOf(t, px, worker)
	g := px.groupFor(0)
	px.openLanes(g)
	px.Pause(worker)
	c.mu.Lock()
	held := c.lastSent
	c.mu.Unlock()
	for i, sp := range pools {
		sp.Close()
		pl := px.poolList()[i]
		waitFor(t, pl.cfg.Name+"'s connection without work", func() bool {
			u := pl.conn(0)
			return u != nil && u.current() == nil && !u.up()
		})
	}
	if !px.split.running() {
		t.Fatalf("the split ended without a failover check")
	}
	px.Resume(worker) // resumed runs before Resume returns: an offer would show now
	c.offerMu.Lock()
	offered := c.offerJob
	c.offerMu.Unlock()
	c.mu.Lock()
	sent := c.lastSent
	c.mu.Unlock()
	if offered != nil || sent != held {
		t.Fatalf("resumed with both pools down: offered a job (%v), sent %s (held %s)", offered != nil, sent.localID, held.localID)
	}
	// Still served: a share on the work it held is answered (submit fails the test after 30
	// s without one) and counted as reaching no pool.
	m.submit(m.find(anyShare))
	waitFor(t, "the share counted not forwarded", func() bool {
		return workerRow(t, px, worker).Shares["not_forwarded"] == 1
	})
}

// TestSplitStaleReissueNotHandedOut: a pool's shared re-issue, minted this second, is
// retired when the pool leaves the split (weight 0), between a move's look at the lane and
// its re-issue. A miner moved there then is given nothing from that lane, neither the
// shared re-issue nor a fresh one of the same work: both would be answered stale. Before,
// the shortcut for a lane less than a second old handed the retired re-issue out as clean
// work.
func TestSplitStaleReissueNotHandedOut(t *testing.T) {
	pools, _, px, addr := startSilentSplit(t, 601)
	a := dialShareMiner(t, addr, "lane.a")
	b := dialShareMiner(t, addr, "lane.b")
	ca, cb := channelOf(t, px, a.worker), channelOf(t, px, b.worker)
	g := px.groupFor(0)
	px.openLanes(g)
	left, stays := px.poolList()[1], px.poolList()[0]
	moved := func(pl *pool) *proxyJob {
		t.Helper()
		if !px.moveTo(ca, g, pl) {
			t.Fatalf("moving %s to %s offered nothing", a.worker, pl.cfg.Name)
		}
		var got *proxyJob
		waitFor(t, a.worker+" moved to "+pl.cfg.Name, func() bool {
			ca.mu.Lock()
			defer ca.mu.Unlock()
			got = ca.lastSent
			return got != nil && got.pool == pl
		})
		return got
	}
	// The clock does not move: a.worker holds left's published job, so moving it back there
	// mints the shared re-issue the lane then shows.
	moved(left)
	moved(stays)
	shared := moved(left)
	if shared.origin == nil || shared.stale() {
		t.Fatalf("lane of %s: origin %v, stale %v; want a live re-issue", left.cfg.Name, shared.origin, shared.stale())
	}
	g.mu.Lock()
	looked := g.lanes[left] // what a move of b.worker saw before the split changed
	g.mu.Unlock()
	if looked != shared {
		t.Fatalf("the lane is not the shared re-issue")
	}

	pcs := px.PoolConfigs()
	pcs[1].Weight = 0
	if err := px.SetPools(pcs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the split ended", func() bool { return !px.split.running() })
	if !shared.stale() {
		t.Fatalf("%s's re-issue still valid after it left the split", left.cfg.Name)
	}
	if pj := px.reissue(g, looked, cb); pj != nil {
		t.Fatalf("re-issue of %s's retired lane gave job %s (stale %v, shared %v)", left.cfg.Name, pj.localID, pj.stale(), pj == shared)
	}
	if pj := px.reissue(g, looked, ca); pj != nil { // a.worker holds it: the path that mints
		t.Fatalf("re-issue for the miner holding the lane gave job %s (stale %v)", pj.localID, pj.stale())
	}
	// b.worker still mines: the split's end put it on the remaining pool, where its share
	// is accepted.
	var on *proxyJob
	waitFor(t, b.worker+" on "+stays.cfg.Name, func() bool {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		on = cb.lastSent
		return on != nil && on.pool == stays
	})
	for b.jobID != on.localID {
		b.nextJob()
	}
	if r := b.submit(b.find(anyShare)); !r.Accepted() {
		t.Fatalf("share of %s after the split ended: %s %v", b.worker, r.Result, r.Error)
	}
	waitFor(t, "the share counted at "+stays.cfg.Name, func() bool { return pools[0].Accepted() == 1 })
}

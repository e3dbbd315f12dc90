package proxy

import (
	"strconv"
	"testing"
	"time"
)

// TestSplitDoesNotMovePausedMiners: 20 paused, silent miners in a 50/50 split for a simulated
// minute. A paused miner is offered nothing, so moving it makes a job no one is sent; the
// proxy makes none for them (only the re-announce of each pool's work at 45 s). Before, the
// schedule's pool never matched the paused miner's last job, and every second each one was
// moved again: 631 jobs in the minute.
func TestSplitDoesNotMovePausedMiners(t *testing.T) {
	_, clk, px, addr := startSilentSplit(t, 541)
	const n = 20
	for i := 0; i < n; i++ {
		w := "sleep.m" + strconv.Itoa(i)
		dialShareMiner(t, addr, w)
		px.Pause(w)
	}
	start, t0 := px.nextJob.Load(), clk.Now()
	const secs = 60
	advanceUntil(t, clk, "a simulated minute", func() bool { return clk.Now().Sub(t0) >= secs*time.Second })
	made := px.nextJob.Load() - start
	t.Logf("%d paused miners over %d s: %d jobs made", n, secs, made)
	// Each pool's work re-announced once (45 s), maybe twice on a slow tick.
	if made > 4 {
		t.Fatalf("%d jobs made in %d s for %d paused miners, want only the re-announces", made, secs, n)
	}
	// Their schedules went on: every miner crossed a slice boundary.
	px.split.mu.Lock()
	defer px.split.mu.Unlock()
	for c, m := range px.split.miners {
		if !m.next.After(t0.Add(splitSlice)) {
			t.Fatalf("%s's schedule stopped at %v", c.workerName(), m.next)
		}
	}
}

// TestSplitResumeGivesTheScheduledPoolsWork: a miner paused during a split, whose schedule
// has moved it to the other pool meanwhile, is resumed while the pool it mined last has the
// group's latest job. It is sent its scheduled pool's work at once, and its share goes to
// that pool. Before, Resume sent the group's latest job whatever its pool, and the miner
// mined the wrong pool until the next second's settle.
func TestSplitResumeGivesTheScheduledPoolsWork(t *testing.T) {
	pools, clk, px, addr := startSilentSplit(t, 551)
	const worker = "wake.m0"
	m := dialShareMiner(t, addr, worker)
	c := channelOf(t, px, worker)
	px.Pause(worker)
	last := minedPool(c)
	advanceUntil(t, clk, "the paused miner's schedule on the other pool", func() bool {
		pl := px.split.scheduled(c)
		return pl != nil && pl != last
	})
	sched := px.split.scheduled(c)
	simOf := func(pl *pool) int {
		if pl == px.poolList()[0] {
			return 0
		}
		return 1
	}
	// The pool the miner mined last publishes: its job is the group's latest.
	g := px.groupFor(0)
	before := px.nextJob.Load()
	pools[simOf(last)].NewJob()
	waitFor(t, "the other pool's job published", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.cur != nil && g.cur.pool == last && g.cur.seq > before
	})
	c.mu.Lock()
	paused := c.lastSent
	c.mu.Unlock()
	px.Resume(worker) // the clock does not move: no settle runs
	var got *proxyJob
	waitFor(t, "a job for the resumed miner", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		got = c.lastSent
		return got != paused
	})
	if got.pool != sched {
		t.Fatalf("resumed on %s's work, scheduled on %s", got.pool.cfg.Name, sched.cfg.Name)
	}
	for m.jobID != got.localID {
		m.nextJob()
	}
	// The miner's only share (the pool may count it under the account alone, before the
	// worker's own authorize is answered).
	if r := m.submit(m.find(anyShare)); !r.Accepted() {
		t.Fatalf("share on the job given at resume: %s %v", r.Result, r.Error)
	}
	waitFor(t, "the share counted at "+sched.cfg.Name, func() bool { return pools[simOf(sched)].Accepted() == 1 })
	if got := pools[simOf(last)].Accepted(); got != 0 {
		t.Fatalf("%s, not scheduled, got the resumed miner's share", last.cfg.Name)
	}
}

// TestSplitFleetResumeSharesJobs: 400 miners paused in a split and resumed together, after
// their schedules moved on, are each sent their scheduled pool's work at once, and the whole
// fleet's resume makes at most one job per pool, not one per miner.
func TestSplitFleetResumeSharesJobs(t *testing.T) {
	_, clk, px, addr := startSilentSplit(t, 571)
	const n = 400
	workers := make([]string, n)
	for i := range workers {
		workers[i] = "wakeall.m" + strconv.Itoa(i)
		dialShareMiner(t, addr, workers[i])
		px.Pause(workers[i])
	}
	t0 := clk.Now()
	advanceUntil(t, clk, "a slice", func() bool { return clk.Now().Sub(t0) >= splitSlice })
	chans := make([]*channel, n)
	last := make([]*proxyJob, n)
	for i, w := range workers {
		chans[i] = channelOf(t, px, w)
		chans[i].mu.Lock()
		last[i] = chans[i].lastSent
		chans[i].mu.Unlock()
	}
	start := px.nextJob.Load()
	for _, w := range workers { // the clock does not move: no settle runs
		px.Resume(w)
	}
	for i, c := range chans {
		sched := px.split.scheduled(c)
		waitFor(t, workers[i]+" sent its scheduled pool's work", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.lastSent != last[i] && c.lastSent.pool == sched && !c.lastSent.stale()
		})
	}
	if made := px.nextJob.Load() - start; made > 2 {
		t.Fatalf("resuming %d miners made %d jobs, want at most one per pool", n, made)
	}
}

package proxy

import (
	"strconv"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// anyShare takes the first hash that meets the miner's own target.
func anyShare(*[32]byte) bool { return true }

// startSilentSplit runs two simulated pools weighted 50/50 that send no work of their own
// (the tests publish it), and the proxy over them on a manual clock, with no per-address
// connection limit so one test can bring a fleet.
func startSilentSplit(t *testing.T, seed uint64) (pools [2]*simpool.Pool, clk *clock.Manual, px *Proxy, addr string) {
	t.Helper()
	var addrs [2]string
	for i := range pools {
		pools[i], addrs[i] = startPool(t, func(c *simpool.Config) {
			c.Difficulty, c.JobInterval, c.BlockInterval, c.Seed = splitDiff, 0, 0, seed+uint64(i)
		})
	}
	clk = clock.NewManual(time.Now())
	cfg := splitTestConfig([]float64{50, 50}, []int{0, 0}, addrs[0], addrs[1])
	cfg.Limits.MaxConnectionsPerIP = 0
	px, addr = startProxy(t, cfg, Options{Clock: clk})
	waitFor(t, "the split running", px.split.running)
	return pools, clk, px, addr
}

// tickFleet moves the clock one second and waits until the supervisor's settle for it has
// run: every miner's next slice boundary is after the new time, and settle is done. Only
// for a fleet with miners due every second (else the wait can end before the tick is taken,
// and the next one be dropped).
func tickFleet(t *testing.T, clk *clock.Manual, px *Proxy) {
	t.Helper()
	clk.Advance(time.Second)
	now := clk.Now()
	waitFor(t, "the schedule to pass "+now.Format(time.TimeOnly), func() bool {
		px.split.mu.Lock()
		defer px.split.mu.Unlock()
		for _, m := range px.split.miners {
			if !m.next.After(now) {
				return false
			}
		}
		return true
	})
	// Taking settleMu waits for the rest of that settle (the moves) to finish.
	px.split.settleMu.Lock()
	px.split.settleMu.Unlock()
}

// groupJobs is how many jobs g's live and trimmed lists hold.
func groupJobs(g *group) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.live) + len(g.trimmed)
}

// TestSplitFleetMovesKeepHeldJobsValid: 1,600 silent miners in a 50/50 split are moved once
// a slice each, about 3,200 moves in 12 simulated seconds. A miner's valid share on the job
// it was given before them all is accepted, a miner connecting afterwards is given valid
// work, and the moves made at most one job per pool a second, however many miners moved.
// Each move made a job of its own before: 1,601 jobs in 6 s, past the group's job lists, and
// the jobs miners held, and each pool's current one, were answered stale.
func TestSplitFleetMovesKeepHeldJobsValid(t *testing.T) {
	_, clk, px, addr := startSilentSplit(t, 501)
	const fleet = 1600
	for i := 0; i < fleet; i++ {
		dialShareMiner(t, addr, "bound.m"+strconv.Itoa(i))
	}
	m := dialShareMiner(t, addr, "bound.victim")
	if r := m.submit(m.find(anyShare)); !r.Accepted() {
		t.Fatalf("control share: %v", r.Error)
	}
	start := px.nextJob.Load()
	const secs = 12
	for range secs {
		tickFleet(t, clk, px)
	}
	made := px.nextJob.Load() - start
	t.Logf("%d miners over %d s: %d jobs made", fleet+1, secs, made)
	// One job per pool and clock second for the moves, and each pool's first job in the
	// group published once.
	if limit := uint64(2*(secs+1) + 2); made > limit {
		t.Errorf("%d jobs made for the moves of %d miners in %d s, want at most %d", made, fleet+1, secs, limit)
	}
	if n := groupJobs(px.groupFor(0)); n > 4*maxJobsPerChannel {
		t.Errorf("the group keeps %d jobs", n)
	}
	if r := m.submit(m.find(anyShare)); !r.Accepted() {
		t.Errorf("valid share on the job the miner held before the moves: %s %v", r.Result, r.Error)
	}
	late := dialShareMiner(t, addr, "bound.late")
	if r := late.submit(late.find(anyShare)); !r.Accepted() {
		t.Errorf("valid share of a miner connecting after the moves: %s %v", r.Result, r.Error)
	}
}

// TestSplitPoolJobFloodKeepsOtherPoolsWork: one pool of a split sends 1,200 jobs for the
// same block, more than the group's job lists keep, while a miner mines the other pool's
// job. The lists stay bounded, and the work the group hands out now is never cut as too
// old: the miner's valid share is accepted. Before, the flood pushed the other pool's
// current job off the end of the trimmed list, which marked it stale.
func TestSplitPoolJobFloodKeepsOtherPoolsWork(t *testing.T) {
	pools, _, px, addr := startSilentSplit(t, 511)
	m := dialShareMiner(t, addr, "flood.victim")
	c := channelOf(t, px, "flood.victim")
	on := minedPool(c)
	flood := pools[0]
	if on == px.poolList()[0] {
		flood = pools[1]
	}
	const n = 1200
	start := px.nextJob.Load()
	for sent := 0; sent < n; {
		// In batches the pool's send queue holds (it drops a client that falls behind).
		for range 100 {
			flood.NewJob()
		}
		sent += 100
		waitFor(t, "the proxy to publish the flooded jobs", func() bool { return px.nextJob.Load()-start >= uint64(sent) })
	}
	g := px.groupFor(0)
	g.mu.Lock()
	live, trimmed := len(g.live), len(g.trimmed)
	lane := g.lanes[on]
	g.mu.Unlock()
	t.Logf("after %d jobs of the other pool: live %d, trimmed %d", n, live, trimmed)
	if live > 4*maxJobsPerChannel || trimmed > maxTrimmed+2*(len(px.poolList())+1) {
		t.Errorf("group lists grew to live %d, trimmed %d", live, trimmed)
	}
	if lane == nil || lane.stale() {
		t.Errorf("%s's current job in the group is stale after the other pool's flood", on.cfg.Name)
	}
	if r := m.submit(m.find(anyShare)); !r.Accepted() {
		t.Errorf("valid share on %s's job after the other pool's flood: %s %v", on.cfg.Name, r.Result, r.Error)
	}
}

// TestSplitReissueRetiredWithItsPoolsBlock: a miner moved back to a pool is given its work
// under a new id (a re-issue, kept out of the group's lists), and still holds it once moved
// on to the other pool (its shares in flight go to the pool they are for). A new block at
// that pool, which the miner is not sent, makes the re-issue stale like the job it repeats:
// a share on the old prevhash is answered stale and never reaches the pool.
func TestSplitReissueRetiredWithItsPoolsBlock(t *testing.T) {
	pools, clk, px, addr := startSilentSplit(t, 521)
	const worker = "reblock.m0"
	m := dialShareMiner(t, addr, worker)
	c := channelOf(t, px, worker)
	var held *proxyJob
	advanceUntil(t, clk, "the miner given a re-issued job", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		held = c.lastSent
		return held != nil && held.origin != nil
	})
	for m.jobID != held.localID {
		m.nextJob()
	}
	advanceUntil(t, clk, "the miner moved on to the other pool", func() bool { return minedPool(c) != held.pool })
	sp := pools[0]
	if held.pool != px.poolList()[0] {
		sp = pools[1]
	}
	g := px.groupFor(0)
	before := px.nextJob.Load()
	sp.NewBlock()
	waitFor(t, "the new block published", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		l := g.lanes[held.pool]
		return l != nil && l.seq > before && l.retire
	})
	accepted, rejected := sp.Accepted(), sp.Rejected()
	r := m.submit(m.find(anyShare))
	if r.Accepted() || r.Error == nil || r.Error.Code != codeStale || r.Error.Message != "Job not found (=stale)" {
		t.Fatalf("share on a re-issued job of the old block: %s %v, want answered stale by the proxy", r.Result, r.Error)
	}
	if a, rj := sp.Accepted(), sp.Rejected(); a != accepted || rj != rejected {
		t.Fatalf("a share on the old block reached the pool (accepted %d, rejected %d)", a-accepted, rj-rejected)
	}
}

// TestSplitMovedBackWithinASecondGetsANewJobID: miners moved to a pool within a second share
// one job, but a miner that already had that job (moved there and away again in the same
// second) is given the work under a new id and a later ntime: firmware ignores a job id it
// has had.
func TestSplitMovedBackWithinASecondGetsANewJobID(t *testing.T) {
	_, _, px, addr := startSilentSplit(t, 531)
	const worker = "back.m0"
	m := dialShareMiner(t, addr, worker)
	c := channelOf(t, px, worker)
	g := px.groupFor(0)
	home := minedPool(c)
	away := px.poolList()[0]
	if away == home {
		away = px.poolList()[1]
	}
	// The clock does not move: every step is in the same second. Both pools' work is in the
	// group first, so each move offers the miner a job rather than publish one to the
	// miners the schedule gives that pool.
	px.openLanes(g)
	moved := func(pl *pool) *proxyJob {
		t.Helper()
		px.moveTo(c, g, pl)
		var got *proxyJob
		waitFor(t, "the miner moved to "+pl.cfg.Name, func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			got = c.lastSent
			return got != nil && got.pool == pl
		})
		return got
	}
	first := moved(away)
	moved(home)
	again := moved(away)
	if again == first || again.localID == first.localID {
		t.Fatalf("moved back to %s within a second: the same job %s again", away.cfg.Name, first.localID)
	}
	if again.ntime <= first.ntime {
		t.Fatalf("moved back: ntime %d, had %d", again.ntime, first.ntime)
	}
	ids := map[string]bool{m.jobID: true}
	for m.jobID != again.localID {
		m.nextJob()
		if ids[m.jobID] {
			t.Fatalf("job id %s sent twice", m.jobID)
		}
		ids[m.jobID] = true
	}
	if r := m.submit(m.find(anyShare)); !r.Accepted() {
		t.Fatalf("share on the job given on the way back: %s %v", r.Result, r.Error)
	}
}

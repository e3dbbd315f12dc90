package proxy

import (
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// splitDiff is the share difficulty of the split tests' pools and miners: 64 hashes a share,
// so a simulated miner sends hundreds of shares a second for little CPU. A miner short of CPU
// falls behind its pace and then races to catch up, which would make its hashrate depend on
// what else runs.
const splitDiff = 1.0 / (1 << 26)

// splitTestConfig is a proxy config for pools with the given weights and priorities. Job,
// submit and authorize timeouts are out of the way: the proxy runs on a manual clock moved
// far faster than the pools send work or answer, and the pools here only fail when a test
// kills them.
func splitTestConfig(weights []float64, prios []int, addrs ...string) Config {
	cfg := testConfig(addrs...)
	for i := range cfg.Pools {
		cfg.Pools[i].Weight, cfg.Pools[i].Priority = weights[i], prios[i]
	}
	// Miners mine at the pools' difficulty (vardiff is capped there and wants more).
	cfg.Difficulty = DifficultyConfig{Initial: splitDiff, Min: splitDiff / 4, SharesPerMinute: 60, RetargetEvery: Duration(time.Hour)}
	cfg.JobTimeout = Duration(24 * time.Hour)
	cfg.SubmitTimeout = Duration(time.Hour)
	cfg.WorkerAuthTimeout = Duration(time.Hour) // the tests tell miners apart at the pools by name
	cfg.SubmitRate = 100000
	return cfg
}

func startSplitPool(t *testing.T, seed uint64) (*simpool.Pool, string) {
	return startPool(t, func(c *simpool.Config) { c.Seed = seed; c.Difficulty = splitDiff })
}

// splitRig is a proxy on a manual clock splitting by weight between simulated pools, with
// three V1 miners mining through it.
type splitRig struct {
	pools []*simpool.Pool
	addrs []string // the pools' addresses
	clk   *clock.Manual
	px    *Proxy
	ms    []*miner.Miner
}

// startSplitRig runs a simulated pool per weight (seeded seed, seed+1, ...) at the priorities
// prios, the proxy over them, and three miners named prefix-N at hashRate.
func startSplitRig(t *testing.T, seed uint64, weights []float64, prios []int, prefix string, hashRate float64) *splitRig {
	t.Helper()
	r := &splitRig{clk: clock.NewManual(time.Now())}
	for i := range weights {
		sp, a := startSplitPool(t, seed+uint64(i))
		r.pools, r.addrs = append(r.pools, sp), append(r.addrs, a)
	}
	var addr string
	r.px, addr = startProxy(t, splitTestConfig(weights, prios, r.addrs...), Options{Clock: r.clk})
	r.ms = startMiners(t, addr, 3, prefix, func(c *miner.Config) { c.HashRate = hashRate })
	return r
}

// settledOn reports whether the split has ended with every connected miner on pool.
func settledOn(px *Proxy, pool string) bool {
	if px.split.running() {
		return false
	}
	for _, pl := range workerPools(px) {
		if pl != pool {
			return false
		}
	}
	return true
}

// waitFor polls cond in real time without moving the clock; the deadline only stops a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// advanceUntil moves the clock a second at a time, letting real time pass between steps,
// until cond holds.
func advanceUntil(t *testing.T, clk *clock.Manual, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (clock at %v)", what, clk.Now())
		}
		clk.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
}

func workerPools(px *Proxy) map[string]string {
	out := map[string]string{}
	for _, w := range px.Workers() {
		out[w.Worker] = w.Pool
	}
	return out
}

// TestSplitHoldsWeightsMeasuredAtThePools: three miners, pools weighted 30/70 at one
// priority; over a simulated 10 minutes the shares the pools themselves accepted split
// 30/70 within ±2 percentage points, and every miner mines both.
//
// How the 10 minutes are simulated: the slice schedule runs on the proxy's clock, a manual
// clock moved one second per step, while the miners hash in real time. Each step lasts until
// the pools have accepted 20 more shares (a loaded box lets several times that through
// before the test looks again). 600 steps make at least 12,000 shares; the
// schedule credits each miner with the shares it mined for each pool, so it keeps each
// miner within about one slice of work (1 point) of its weights whatever the share luck or
// a loaded box does to its rate.
func TestSplitHoldsWeightsMeasuredAtThePools(t *testing.T) {
	r := startSplitRig(t, 21, []float64{30, 70}, []int{0, 0}, "split", 12800)
	pa, pb, clk, px, ms := r.pools[0], r.pools[1], r.clk, r.px, r.ms

	waitFor(t, "the split running with every miner mining", func() bool {
		if !px.split.running() || len(px.Workers()) != 3 {
			return false
		}
		for _, m := range ms {
			if m.Stats.Accepted.Load() == 0 {
				return false
			}
		}
		return true
	})
	for _, ps := range px.Pools() {
		if !ps.Active || ps.Weight != map[string]float64{"pool0": 30, "pool1": 70}[ps.Name] {
			t.Fatalf("pool row %s: active %v weight %v", ps.Name, ps.Active, ps.Weight)
		}
	}
	a0, b0 := pa.Accepted(), pb.Accepted()
	byWorker := func(p *simpool.Pool) []uint64 {
		var out []uint64
		for _, m := range ms {
			out = append(out, p.AcceptedBy("acct."+m.Worker()))
		}
		return out
	}
	wa0, wb0 := byWorker(pa), byWorker(pb)
	// Every simulated second holds shares of every miner: a miner the box starves of CPU
	// while the others fill a second's count would otherwise mine only in some seconds of
	// its schedule, and its own split would follow the box's scheduling, not the proxy's.
	const steps, perStep = 600, 20
	mined := func(i int) uint64 {
		return pa.AcceptedBy("acct."+ms[i].Worker()) + pb.AcceptedBy("acct."+ms[i].Worker())
	}
	for i := 0; i < steps; i++ {
		clk.Advance(time.Second)
		want := pa.Accepted() + pb.Accepted() + perStep
		each := make([]uint64, len(ms))
		for k := range ms {
			each[k] = mined(k) + perStep/uint64(2*len(ms))
		}
		waitFor(t, fmt.Sprintf("step %d's shares", i), func() bool {
			if pa.Accepted()+pb.Accepted() < want {
				return false
			}
			for k := range ms {
				if mined(k) < each[k] {
					return false
				}
			}
			return true
		})
	}
	da, db := float64(pa.Accepted()-a0), float64(pb.Accepted()-b0)
	split := da / (da + db)
	t.Logf("over %d simulated seconds the pools accepted %.0f / %.0f shares: %.2f %% / %.2f %%", steps, da, db, 100*split, 100*(1-split))
	if math.Abs(split-0.30) > 0.02 {
		t.Fatalf("pool0 got %.2f %% of the shares accepted at the pools, want 30 ± 2 %%", 100*split)
	}
	wa, wb := byWorker(pa), byWorker(pb)
	for i, m := range ms {
		ma, mb := float64(wa[i]-wa0[i]), float64(wb[i]-wb0[i])
		s := ma / (ma + mb)
		t.Logf("%s: %.0f / %.0f shares: %.2f %% on pool0", m.Worker(), ma, mb, 100*s)
		// Each miner's own split: a third of the shares, so more luck, and its own
		// switches' delays (measured 26.8-32.7 %).
		if math.Abs(s-0.30) > 0.06 {
			t.Errorf("%s mined %.2f %% on pool0, want 30 ± 6 %%", m.Worker(), 100*s)
		}
		if m.Stats.Connects.Load() != 1 {
			t.Errorf("%s reconnected: switching pools must keep the connection", m.Worker())
		}
	}
	// The proxy's own rows agree: the difficulty mined for each pool splits alike.
	rows := px.Pools()
	ad := rows[0].AcceptedDifficulty / (rows[0].AcceptedDifficulty + rows[1].AcceptedDifficulty)
	if math.Abs(ad-0.30) > 0.02 {
		t.Fatalf("pool rows: accepted difficulty split %.3f, want 0.30 ± 0.02", ad)
	}
}

// TestSplitFailoverAndRejoin: a pool of the split that dies drops out within one failover
// check: every miner is on the other pool, none disconnected. When it comes back it rejoins
// the split once it has been healthy for the failback delay, and every miner mines it again.
func TestSplitFailoverAndRejoin(t *testing.T) {
	r := startSplitRig(t, 31, []float64{30, 70}, []int{0, 0}, "splitf", 2560)
	pa, pb, clk, px, ms := r.pools[0], r.pools[1], r.clk, r.px, r.ms
	advanceUntil(t, clk, "every miner on both pools", func() bool {
		for _, m := range ms {
			if pa.AcceptedBy("acct."+m.Worker()) == 0 || pb.AcceptedBy("acct."+m.Worker()) == 0 {
				return false
			}
		}
		return true
	})

	pb.Close()
	waitFor(t, "the proxy to see pool1 down", func() bool { return px.Pools()[1].State == "down" })
	clk.Advance(time.Second) // one failover check
	waitFor(t, "the split ended and every miner on pool0", func() bool { return settledOn(px, "pool0") })
	if px.Status().ActivePool != "pool0" || px.Pools()[1].Active {
		t.Fatalf("active pool %q, pool1 row active %v after pool1 died", px.Status().ActivePool, px.Pools()[1].Active)
	}
	base := map[string]uint64{}
	for _, m := range ms {
		base[m.Worker()] = pa.AcceptedBy("acct." + m.Worker())
	}
	waitFor(t, "every miner's shares reaching pool0", func() bool {
		for _, m := range ms {
			if pa.AcceptedBy("acct."+m.Worker()) < base[m.Worker()]+3 {
				return false
			}
		}
		return true
	})

	// pool1 comes back on its address.
	cfg := simpool.DefaultConfig()
	cfg.Difficulty, cfg.JobInterval, cfg.BlockInterval, cfg.Seed = splitDiff, 0, 0, 33
	nb, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", r.addrs[1])
	if err != nil {
		t.Skipf("pool1's port was taken meanwhile: %v", err)
	}
	nb.Serve(l)
	t.Cleanup(nb.Close)
	var upAt time.Time
	advanceUntil(t, clk, "pool1 back in the split", func() bool {
		if upAt.IsZero() && px.Pools()[1].State == "up" {
			upAt = clk.Now()
		}
		return px.split.has(px.poolList()[1])
	})
	if d := clk.Now().Sub(upAt); d < failbackDelay-time.Second {
		t.Fatalf("pool1 rejoined %v after it came up, want the failback delay %v", d, failbackDelay)
	}
	advanceUntil(t, clk, "every miner on the returned pool1 too", func() bool {
		for _, m := range ms {
			if nb.AcceptedBy("acct."+m.Worker()) == 0 {
				return false
			}
		}
		return true
	})
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("%s reconnected %d times", m.Worker(), m.Stats.Connects.Load())
		}
	}
}

// TestSplitOnlyWithinBestPriority: weighted pools of a worse priority take no share while a
// better pool is healthy (a single weighted pool there mines alone, as without weights);
// when it dies, the weighted pools of the next priority split the miners.
func TestSplitOnlyWithinBestPriority(t *testing.T) {
	r := startSplitRig(t, 41, []float64{1, 1, 3}, []int{0, 1, 1}, "splitp", 2560)
	p0, p1, p2, clk, px, ms := r.pools[0], r.pools[1], r.pools[2], r.clk, r.px, r.ms
	// The clock stands still until pool0 mines: moved at once, it would run out the startup
	// grace before pool0 answers and start the fleet on the backups, as it should.
	waitFor(t, "every miner on pool0", func() bool {
		for _, m := range ms {
			if p0.AcceptedBy("acct."+m.Worker()) == 0 {
				return false
			}
		}
		return px.Status().ActivePool == "pool0"
	})
	n1, n2 := p1.Accepted(), p2.Accepted()
	start := clk.Now()
	advanceUntil(t, clk, "30 simulated seconds", func() bool { return clk.Now().Sub(start) >= 30*time.Second })
	if px.split.running() || p1.Accepted() != n1 || p2.Accepted() != n2 {
		t.Fatalf("worse-priority pools mined (split %v, shares %d, %d)", px.split.running(), p1.Accepted()-n1, p2.Accepted()-n2)
	}
	if rows := px.Pools(); !rows[0].Active || rows[1].Active || rows[2].Active {
		t.Fatalf("active flags %v %v %v", rows[0].Active, rows[1].Active, rows[2].Active)
	}

	p0.Close()
	advanceUntil(t, clk, "pool1 and pool2 sharing every miner", func() bool {
		for _, m := range ms {
			if p1.AcceptedBy("acct."+m.Worker()) == 0 || p2.AcceptedBy("acct."+m.Worker()) == 0 {
				return false
			}
		}
		return true
	})
	rows := px.Pools()
	if rows[0].Active || !rows[1].Active || !rows[2].Active || px.Status().ActivePool != "pool1" {
		t.Fatalf("after failover: active %v %v %v, active pool %q", rows[0].Active, rows[1].Active, rows[2].Active, px.Status().ActivePool)
	}
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("%s reconnected", m.Worker())
		}
	}
}

// TestSplitPoolRejectingDropsOut: a pool of the split that rejects every share is failed
// like any pool (sustained rejects over reject_window): it leaves the split and every miner
// mines the other pool, none disconnected.
func TestSplitPoolRejectingDropsOut(t *testing.T) {
	pa, a1 := startSplitPool(t, 61)
	pb, a2 := startSplitPool(t, 62)
	cfg := splitTestConfig([]float64{50, 50}, []int{0, 0}, a1, a2)
	cfg.RejectWindow, cfg.RejectFailover = 10, 0.8
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, cfg, Options{Clock: clk})
	ms := startMiners(t, addr, 3, "splitr", func(c *miner.Config) { c.HashRate = 2560 })
	advanceUntil(t, clk, "both pools mining", func() bool { return pa.Accepted() > 0 && pb.Accepted() > 0 })

	pa.SetMode(simpool.RejectAll)
	advanceUntil(t, clk, "the rejecting pool out of the split and every miner on pool1", func() bool { return settledOn(px, "pool1") })
	if row := px.Pools()[0]; row.State != "down" || !strings.HasPrefix(row.Reason, "sustained rejects") || row.Shares["pool_rejected"] < 8 || row.Active {
		t.Fatalf("rejecting pool row: state %q reason %q rejected %d active %v", row.State, row.Reason, row.Shares["pool_rejected"], row.Active)
	}
	base := pb.Accepted()
	waitFor(t, "shares reaching pool1", func() bool { return pb.Accepted() > base+10 })
	for _, m := range ms {
		if m.Stats.Connects.Load() != 1 {
			t.Fatalf("%s reconnected", m.Worker())
		}
	}
}

// TestSplitStopsWhileAPoolIsForced: an operator's forced pool takes every miner from the
// split; clearing it lets the weighted pools share them again.
func TestSplitStopsWhileAPoolIsForced(t *testing.T) {
	r := startSplitRig(t, 71, []float64{50, 50}, []int{0, 0}, "splitx", 2560)
	pa, pb, clk, px, ms := r.pools[0], r.pools[1], r.clk, r.px, r.ms
	advanceUntil(t, clk, "both pools mining", func() bool { return pa.Accepted() > 0 && pb.Accepted() > 0 })

	if err := px.ForcePool("pool1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every miner on the forced pool", func() bool { return settledOn(px, "pool1") })
	// Once the shares in flight at the switch have landed, pool0 gets nothing over ten
	// simulated seconds.
	base := pb.Accepted()
	waitFor(t, "shares on the forced pool", func() bool { return pb.Accepted() > base+20 })
	n0 := pa.Accepted()
	for range 10 {
		clk.Advance(time.Second)
	}
	base = pb.Accepted()
	waitFor(t, "more shares on the forced pool", func() bool { return pb.Accepted() > base+20 })
	if pa.Accepted() != n0 || px.Pools()[0].Active {
		t.Fatalf("pool0 mined while pool1 was forced: %d shares, active %v", pa.Accepted()-n0, px.Pools()[0].Active)
	}

	if !px.ClearForcedPool("pool1") {
		t.Fatal("pool1 was not forced")
	}
	advanceUntil(t, clk, "the split back with every miner on both pools", func() bool {
		if !px.split.running() {
			return false
		}
		for _, m := range ms {
			if pa.AcceptedBy("acct."+m.Worker()) == 0 {
				return false
			}
		}
		return pa.Accepted() > n0
	})
}

// TestSplitThreePools: weights 1/1/2 over three pools of one priority, measured at the
// pools over 300 simulated seconds (steps as in TestSplitHoldsWeightsMeasuredAtThePools, at
// least 6,000 shares): 25/25/50 within ±2 points. Under a loaded -race run a step carries
// from 20 to several times 20 shares, and a miner's shares come in bursts; with credits in
// seconds the pools' split followed the time split, not the work, and the heavier pool got
// 47.6-54.8 %. Credited in the work each miner mines, with the fleet's credits weighed in,
// the schedule itself steers the shares.
func TestSplitThreePools(t *testing.T) {
	r := startSplitRig(t, 101, []float64{1, 1, 2}, []int{0, 0, 0}, "split3", 12800)
	pools, clk, px := r.pools, r.clk, r.px
	waitFor(t, "the split running with three pools", func() bool {
		return px.split.running() && len(px.Workers()) == 3 && px.split.has(px.poolList()[2])
	})
	total := func() (n uint64) {
		for _, sp := range pools {
			n += sp.Accepted()
		}
		return n
	}
	var before [3]uint64
	for i, sp := range pools {
		before[i] = sp.Accepted()
	}
	for i := 0; i < 300; i++ {
		clk.Advance(time.Second)
		want := total() + 20
		waitFor(t, fmt.Sprintf("step %d's shares", i), func() bool { return total() >= want })
	}
	var got [3]float64
	var sum float64
	for i, sp := range pools {
		got[i] = float64(sp.Accepted() - before[i])
		sum += got[i]
	}
	for i, want := range []float64{0.25, 0.25, 0.5} {
		t.Logf("pool%d: %.0f shares, %.2f %%", i, got[i], 100*got[i]/sum)
		if math.Abs(got[i]/sum-want) > 0.02 {
			t.Errorf("pool%d got %.2f %% of the shares, want %.0f ± 2 %%", i, 100*got[i]/sum, 100*want)
		}
	}
}

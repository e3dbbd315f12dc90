package proxy

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/miner2"
	simpool "github.com/hashgate/hashgate/sim/pool"
)

// TestSplitStartKeepsSharesInFlight: when the split starts, the miners moved to the pool
// that joins get its first job as a retiring one (the pool's first work in their group),
// yet the pool they leave is still in the split: the shares they found on its job and send
// after the switch are judged against that job and forwarded there, never called stale. V1
// miners and SV2 standard and extended channels alike.
func TestSplitStartKeepsSharesInFlight(t *testing.T) {
	pa, a1 := startSplitPool(t, 121)
	// pool1 accepts the proxy's connection but answers only once it serves: until then it
	// has no job and the fleet mines pool0 alone.
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := simpool.DefaultConfig()
	cfg.Difficulty, cfg.JobInterval, cfg.BlockInterval, cfg.Seed = splitDiff, 0, 0, 122
	pb, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pb.Close)
	t.Cleanup(func() { l1.Close() })
	k := newV2Keys(t)
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, splitTestConfig([]float64{50, 50}, []int{0, 0}, a1, l1.Addr().String()), Options{Clock: clk})
	l, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	v1 := startMiners(t, addr, 3, "inflight", func(c *miner.Config) { c.HashRate = 12800 })
	v2 := startMiners2(t, l.String(), k.authority.PublicKey(), 3, "inflight2", func(i int, c *miner2.Config) {
		c.HashRate, c.VersionRolling, c.Standard = 12800, false, i != 2
	})
	waitFor(t, "every miner mining pool0 alone", func() bool {
		if px.split.running() || len(px.Workers()) != 6 || !allAccepted2(v2) {
			return false
		}
		for _, m := range v1 {
			if m.Stats.Accepted.Load() == 0 {
				return false
			}
		}
		return true
	})
	pb.Serve(l1)
	waitFor(t, "the split running", px.split.running)
	moved := func() int {
		n := 0
		for _, w := range px.Workers() {
			if w.Pool == "pool1" {
				n++
			}
		}
		return n
	}
	waitFor(t, "miners moved to pool1", func() bool { return moved() > 0 })
	// Some slices on: the schedule moves miners both ways.
	baseA, baseB := pa.Accepted(), pb.Accepted()
	advanceUntil(t, clk, "shares at both pools after the split started", func() bool {
		return pa.Accepted() > baseA+100 && pb.Accepted() > baseB+100
	})
	for i, m := range v1 {
		if r := m.Rejects(); len(r) != 0 {
			t.Errorf("V1 miner %d got rejects across the split's start: %v", i, r)
		}
	}
	for i, m := range v2 {
		if r := m.Rejects(); len(r) != 0 {
			t.Errorf("SV2 miner %d (standard %v) got rejects across the split's start: %v", i, i != 2, r)
		}
	}
}

// TestSplitRetireKeepsOtherPoolsJobs: while the split runs, a retiring job (a new block at
// a pool) voids only that pool's jobs in a miner's channel: a miner just moved there still
// sends shares for the pool it left, whose job is valid there, and they are judged, not
// called stale. Its own pool's older jobs are stale; without a split a retiring job voids
// every job, as a failover does.
func TestSplitRetireKeepsOtherPoolsJobs(t *testing.T) {
	p, c, pjA, first := benchChannel(t, "sv1")
	poolA := p.poolList()[0]
	poolB := newPool(p, PoolConfig{Name: "b", URL: "stratum+tcp://127.0.0.1:2", User: "u", Weight: 1}, Endpoint{})
	poolA.setWeight(1)
	if !p.split.setMembers([]*pool{poolA, poolB}) {
		t.Fatal("no split")
	}
	nonce := uint32(0)
	submit := func(id string) int {
		nonce++
		code := -1
		c.submit(&shareReq{jobID: id, x: []byte{1, 2, 3, 4}, ntime: pjA.job.NTime, nonce: nonce}, func(got int, _ string) { code = got })
		return code
	}
	job := func(seq uint64, pl *pool) *proxyJob {
		return &proxyJob{localID: strconv.FormatUint(seq, 16), seq: seq, job: pjA.job, pool: pl, coinb1: pjA.coinb1, coinb2: pjA.coinb2,
			poolDif: pjA.poolDif, retire: true, ntime: pjA.ntime}
	}
	// Moved to b, whose new block retires: the share for a's job is still a's.
	b1 := job(2, poolB)
	isB, _ := c.issue(b1, offerRetire)
	if code := submit(first.id); code != 0 {
		t.Fatalf("a share for pool a's valid job after pool b's retiring job: code %d, want accepted", code)
	}
	// A new block at a: a's older job is stale now, b's is not.
	if _, ok := c.issue(job(3, poolA), offerRetire); !ok {
		t.Fatal("issue failed")
	}
	if code := submit(first.id); code != codeStale {
		t.Fatalf("a share for a's job after a's new block: code %d, want stale", code)
	}
	if code := submit(isB.id); code != 0 {
		t.Fatalf("a share for b's job after a's new block: code %d, want accepted", code)
	}
	// Without a split a retiring job voids everything.
	p.split.setMembers(nil)
	c.issue(job(4, poolB), offerRetire)
	if code := submit(isB.id); code != codeStale {
		t.Fatalf("without a split, a share for an older job after a retiring one: code %d, want stale", code)
	}
}

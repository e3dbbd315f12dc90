package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/work"
)

// TestReissuedWorkIsNotCreditedTwice: the same work re-issued under a fresh job id (a new
// difficulty, a resume, a re-announce) must not accept the same share again.
func TestReissuedWorkIsNotCreditedTwice(t *testing.T) {
	_, c, pj, first := benchChannel(t, "sv1")
	codes := map[string]int{}
	submit := func(id string) int {
		var got int
		c.submit(&shareReq{jobID: id, x: []byte{1, 2, 3, 4}, ntime: pj.job.NTime, nonce: 42}, func(code int, _ string) { got = code })
		codes[id] = got
		return got
	}
	if code := submit(first.id); code != 0 {
		t.Fatalf("first share: code %d", code)
	}
	again, ok := c.issue(pj, offerClean) // the same work again
	if !ok || again.id == first.id || !again.reused {
		t.Fatalf("re-issue %+v", again)
	}
	if again.ntime <= first.ntime {
		t.Fatalf("re-issued work keeps ntime %d (was %d): firmware would redo it", again.ntime, first.ntime)
	}
	if code := submit(again.id); code != codeDuplicate {
		t.Fatalf("the same share under the new id: code %d, want %d", code, codeDuplicate)
	}
	if got := c.counters.Get(ResultAccepted); got != 1 {
		t.Fatalf("accepted %d times", got)
	}
}

// TestVardiffStaysAtThePoolCap: while the pool's difficulty caps a miner, vardiff steers from
// the capped value and stays finite however fast the miner is.
func TestVardiffStaysAtThePoolCap(t *testing.T) {
	p, c, pj, _ := benchChannel(t, "sv1")
	pj.poolDif = 0.001
	c.mu.Lock()
	c.vd.diff = 1
	c.mu.Unlock()
	if is, ok := c.issue(pj, offerClean); !ok || is.diff != 0.001 {
		t.Fatalf("issued at %v", is.diff)
	}
	now := p.clk.Now()
	for i := 0; i < 100000; i++ {
		c.mu.Lock()
		c.vd.share(now)
		c.mu.Unlock()
		if i%1000 == 0 {
			c.issue(pj, offerNormal)
		}
	}
	c.mu.Lock()
	d := c.vd.diff
	c.mu.Unlock()
	if !(d <= 0.001*16) {
		t.Fatalf("vardiff ran away to %v above a pool cap of 0.001", d)
	}
}

// TestVersionMaskFollowsThePool: a V1 miner that negotiated version rolling is told the new
// mask (before the job) when the pool in force grants other bits, and its shares are judged by
// the mask it had for each job.
func TestVersionMaskFollowsThePool(t *testing.T) {
	p, c, pj, _ := benchChannel(t, "sv1")
	c.mu.Lock()
	c.rollingV1, c.askedMask, c.mask = true, 0xffffffff, 0x1fffe000
	c.mu.Unlock()
	s := &v1Conn{p: p, ch: c}
	norolling := *pj.job
	norolling.VersionMask = 0
	if err := norolling.Prepare(); err != nil {
		t.Fatal(err)
	}
	pj2 := &proxyJob{localID: "2", seq: 2, job: &norolling, pool: pj.pool, coinb1: pj.coinb1, coinb2: pj.coinb2, poolDif: pj.poolDif, ntime: norolling.NTime}
	lines := s.appendJob(nil, pj2, offerClean)
	if len(lines) < 2 || !strings.Contains(string(lines[0]), `"mining.set_version_mask","params":["00000000"]`) {
		t.Fatalf("no set_version_mask before the job: %q", lines)
	}
	var code int
	c.submit(&shareReq{jobID: "2", x: []byte{1, 2, 3, 4}, ntime: norolling.NTime, nonce: 1, versionBits: 0x00002000, hasVersionBits: true}, func(cd int, _ string) { code = cd })
	if code != codeOther {
		t.Fatalf("rolled bits on a job without rolling: code %d", code)
	}
	// Back on a rolling pool: the mask is restored.
	if lines := s.appendJob(nil, pj, offerClean); !strings.Contains(string(lines[0]), `["1fffe000"]`) && !strings.Contains(string(lines[0]), `["ffffffff"]`) {
		t.Fatalf("mask not restored: %q", lines[0])
	}
}

// TestRepublishingTheJobInForceDoesNotRetireIt: the same upstream job published again with
// retire set (a second path reaching it at start-up or on failover) is the same work: shares
// on its earlier id stay valid.
func TestRepublishingTheJobInForceDoesNotRetireIt(t *testing.T) {
	p, _, pj, _ := benchChannel(t, "sv1")
	p.layout, p.layoutSet = work.Layout{PrefixSize: 2, MinerSize: 4}, true
	u := newUpstreamV1(p.poolList()[0], 0)
	p.publish(u, pj.job, true)
	first := p.groupFor(0).cur
	p.publish(u, pj.job, true)
	second := p.groupFor(0).cur
	if first == second || second.job != first.job {
		t.Fatal("the second publish did not re-issue the same work")
	}
	if first.superseded.Load() {
		t.Fatal("re-publishing the same work marked the earlier job stale")
	}
	if second.ntime <= first.ntime {
		t.Fatalf("re-issued work kept ntime %d", second.ntime)
	}
	// A different job that retires does supersede it.
	next := *pj.job
	next.PrevHash[0] ^= 1
	next.Received = pj.job.Received.Add(time.Second)
	if err := next.Prepare(); err != nil {
		t.Fatal(err)
	}
	p.publish(u, &next, true)
	if !first.superseded.Load() || !second.superseded.Load() {
		t.Fatal("a new block did not supersede the older jobs")
	}
}

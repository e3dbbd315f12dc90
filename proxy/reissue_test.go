package proxy

import (
	"testing"
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

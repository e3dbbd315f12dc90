package proxy

import (
	"testing"
	"time"
)

// TestSplitSettleForgetsDepartedMiners: settle copies a group's miners, then steps each under
// the split's lock; a miner that detaches in between must not keep a schedule (and with it its
// channel) until the split ends. Miners come and go while settle runs without pause.
func TestSplitSettleForgetsDepartedMiners(t *testing.T) {
	p := &Proxy{}
	if !p.split.setMembers(splitPools(30, 70)) {
		t.Fatal("split not running")
	}
	g := p.groupFor(0)
	now := time.Unix(1_700_000_000, 0)
	stop := hammer(1, func() { p.settle(now, nil) })
	defer stop()
	// a steady population so settle's copy-to-step window is not empty
	for id := uint64(1); id <= 2000; id++ {
		c := &channel{id: id, hasSlot: true}
		g.mu.Lock()
		g.miners[c] = struct{}{}
		g.mu.Unlock()
	}
	// churn: connect and disconnect
	for id := uint64(10000); id < 200000; id++ {
		c := &channel{id: id, hasSlot: true}
		p.split.join(c, now)
		g.mu.Lock()
		g.miners[c] = struct{}{}
		g.mu.Unlock()
		p.detach(c)
	}
	stop()
	p.split.mu.Lock()
	leaked := 0
	for c := range p.split.miners {
		if c.id >= 10000 {
			leaked++
		}
	}
	p.split.mu.Unlock()
	if leaked > 0 {
		t.Fatalf("%d detached miners still have a split schedule (held with their channels until the split ends)", leaked)
	}
}

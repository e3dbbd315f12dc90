package proxy

import (
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/work"
)

// channelOf is the proxy's channel for worker (one connection each in these tests).
func channelOf(t *testing.T, px *Proxy, worker string) *channel {
	t.Helper()
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.channels {
		if c.workerName() == worker {
			return c
		}
	}
	t.Fatalf("no channel for %s", worker)
	return nil
}

// TestIdleMinerHoldsNoShareState: a V1 miner over loopback that has its job but never
// submitted holds no hashrate slots, share counters, duplicate sets or share scratch, and its
// worker row still lists every result at 0 and every window at 0 H/s. Its first share
// allocates them and shows in the row and the windows.
func TestIdleMinerHoldsNoShareState(t *testing.T) {
	t0 := time.Now().Truncate(time.Hour).Add(time.Hour)
	clk := clock.NewManual(t0)
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, testConfig(paddr), Options{Clock: clk})
	m := dialShareMiner(t, addr, "site.idle")
	c := channelOf(t, px, m.worker)
	c.mu.Lock()
	jobs, dupsMade := len(c.jobs), false
	for i := range c.jobs {
		dupsMade = dupsMade || c.jobs[i].dups != nil
	}
	c.mu.Unlock()
	if jobs == 0 || dupsMade {
		t.Fatalf("idle miner: %d job records, duplicate set made: %v", jobs, dupsMade)
	}
	if c.rate.w != nil || c.counters.p.Load() != nil || c.scratch != nil {
		t.Fatalf("idle miner holds share state: slots %v, counters %v, scratch %v",
			c.rate.w != nil, c.counters.p.Load() != nil, c.scratch != nil)
	}
	w := workerRow(t, px, m.worker)
	if len(w.Shares) != int(numResults) || w.Hashrate != 0 || w.Hashrate5m != 0 || w.Hashrate1h != 0 || w.Hashrate24h != 0 {
		t.Fatalf("idle row: %d results %v, rates %v %v %v %v", len(w.Shares), w.Shares, w.Hashrate, w.Hashrate5m, w.Hashrate1h, w.Hashrate24h)
	}
	for name, n := range w.Shares {
		if n != 0 {
			t.Fatalf("idle row counts %d %s", n, name)
		}
	}

	poolT := work.MustTarget(1e-5)
	if r := m.submit(m.find(func(h *[32]byte) bool { return !poolT.Met(h) })); !r.Accepted() {
		t.Fatalf("first share: %v", r.Error)
	}
	clk.Advance(time.Minute)
	w = workerRow(t, px, m.worker)
	if want := m.diff * twoTo32 / 60; w.Shares["accepted"] != 1 || !near(w.Hashrate5m, want) || !near(w.Hashrate24h, want) {
		t.Fatalf("after one share: accepted %d, 5m %v 24h %v, want %v", w.Shares["accepted"], w.Hashrate5m, w.Hashrate24h, want)
	}
	if c.rate.w == nil || c.counters.p.Load() == nil || c.scratch == nil {
		t.Fatal("share state not allocated after the first share")
	}
}

// TestMinerCountersFirstShareRace: shares counted from many goroutines at once on a miner
// with no counters yet lose none (the first ones race to allocate them).
func TestMinerCountersFirstShareRace(t *testing.T) {
	for range 50 {
		var m minerCounters
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					m.add(Result(g % int(numResults)))
				}
			}()
		}
		wg.Wait()
		var sum uint64
		for _, n := range m.Map() {
			sum += n
		}
		if sum != 800 || m.Get(ResultAccepted) != 100 {
			t.Fatalf("counted %d of 800, accepted %d of 100", sum, m.Get(ResultAccepted))
		}
	}
}

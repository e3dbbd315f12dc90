package proxy

import (
	"sync"
	"testing"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/work"
)

// eventLog is a ShareSink keeping every event.
type eventLog struct {
	mu sync.Mutex
	ev []ShareEvent
}

func (l *eventLog) RecordShare(e ShareEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
}

func (l *eventLog) count(r Result, reason string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.ev {
		if e.Result == r && (reason == "" || e.Reason == reason) {
			n++
		}
	}
	return n
}

// TestPoolsBlockCandidateBelowPoolTarget: on regtest (nbits 0x207fffff) the network target is
// easier than a pool's share target, so a share can solve a block while missing the pool's
// difficulty. It goes to the pool (the block is what matters); ckpool submits the block and
// refuses the share ("Above target"), as does a pool answering with its own reject. The miner
// met its own target and is answered accepted; the pool's verdict is in the ledger and the
// log (once per reason per interval); and such refusals do not count toward failing the
// pool over for rejects.
func TestPoolsBlockCandidateBelowPoolTarget(t *testing.T) {
	for _, tc := range []struct {
		software string
		auth     simpool.Auth
		reason   string
	}{
		{"ckpool", simpool.AuthFirstOnly, "Above target"},
		{"public-pool", simpool.AuthAny, ""},
	} {
		t.Run(tc.software, func(t *testing.T) {
			const poolDiff = 1e-5 // far above regtest's network difficulty (4.66e-10)
			sp, paddr := startPool(t, func(c *simpool.Config) {
				c.NBits = 0x207fffff
				c.Difficulty = poolDiff
				c.Auth = tc.auth
			})
			logs, log := logSink()
			sink := &eventLog{}
			cfg := testConfig(paddr)
			cfg.RejectWindow, cfg.RejectFailover = 3, 0.5
			px, addr := startProxy(t, cfg, Options{Logger: log, Sink: sink})
			m := dialShareMiner(t, addr, "rack9.m00")
			poolT := work.MustTarget(poolDiff)
			const n = 4
			for i := 0; i < n; i++ {
				s := m.find(func(h *[32]byte) bool { return !poolT.Met(h) && m.job.NetworkTarget().Met(h) })
				if r := m.submit(s); !r.Accepted() {
					t.Fatalf("block candidate %d under the pool's target but over the miner's: %s %+v", i, r.Result, r.Error)
				}
			}
			eventually(t, "the pool's verdicts on every candidate", func() bool {
				return sp.Blocks() == n && sp.Rejected() == n && sink.count(ResultPoolRejected, "") == n
			})
			if tc.reason != "" && sink.count(ResultPoolRejected, tc.reason) != n {
				t.Fatalf("ledger reasons: want %d × %q", n, tc.reason)
			}
			w := workerRow(t, px, "rack9.m00")
			if w.Shares["accepted"] != n || w.Shares["block_candidate"] != n || w.Shares["forwarded"] != n || w.Shares["pool_rejected"] != n {
				t.Fatalf("worker counters %v", w.Shares)
			}
			if k := logs.count("pool refused a block candidate that missed its share target"); k != 1 {
				t.Fatalf("refusal logged %d times, want once for %d candidates", k, n)
			}
			if tc.reason != "" && logs.count(`"reason":"`+tc.reason+`"`) != 1 {
				t.Fatal("the log line does not carry the pool's reason")
			}
			// Four refusals over a window of three at a 0.5 threshold would have failed the
			// pool over had they counted.
			row := px.Pools()[0]
			if row.State != "up" || !row.Active {
				t.Fatalf("pool failed over for candidates it refused: %+v", row)
			}
			// A candidate that meets the pool's target too (on regtest every share that does is
			// a block) is the pool's to judge, and it takes it.
			s := m.find(func(h *[32]byte) bool { return poolT.Met(h) })
			if r := m.submit(s); !r.Accepted() {
				t.Fatalf("candidate over the pool's target: %+v", r.Error)
			}
			eventually(t, "the pool to accept it", func() bool { return sp.Accepted() == 1 && sp.Blocks() == n+1 })
			if k := logs.count("pool accepted the block candidate"); k != 1 {
				t.Fatalf("acceptance of the candidate logged %d times", k)
			}
		})
	}
}

package proxy

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestSplitSwitchIsNewWorkToTheMiner: a miner switched back to a pool is never sent a job
// id it had before (firmware ignores a repeated id and would stay on the other pool), nor
// the same work with the same ntime (firmware restarting its extranonce2 counter would redo
// it), and every switch is a clean job.
func TestSplitSwitchIsNewWorkToTheMiner(t *testing.T) {
	_, a1 := startSplitPool(t, 91)
	_, a2 := startSplitPool(t, 92)
	clk := clock.NewManual(time.Now())
	px, addr := startProxy(t, splitTestConfig([]float64{50, 50}, []int{0, 0}, a1, a2), Options{Clock: clk})

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	var hs []byte
	hs, _ = sv1.AppendRequest(hs, sv1.IntID(1), &sv1.Subscribe{UserAgent: "cgminer/4.12.1"})
	hs, _ = sv1.AppendRequest(hs, sv1.IntID(2), &sv1.Authorize{Username: "raw.m00", Password: "x"})
	if _, err := nc.Write(hs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notes []sv1.Notify
	go func() {
		lr := sv1.NewLineReader(nc, 1<<20)
		var m sv1.Message
		for {
			line, err := lr.ReadLine()
			if err != nil {
				return
			}
			var n sv1.Notify
			if sv1.DecodeInto(&m, line) == nil && m.Method == sv1.MethodNotify && m.UnmarshalParams(&n) == nil {
				mu.Lock()
				notes = append(notes, n)
				mu.Unlock()
			}
		}
	}()
	works := func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]bool{}
		for _, n := range notes {
			out[workOf(n)] = true
		}
		return out
	}
	waitFor(t, "the split running and the miner's first job", func() bool { return px.split.running() && len(works()) > 0 })
	// Ten switches at least: about a minute of 6 s slices at 50/50.
	advanceUntil(t, clk, "the miner switched between the pools ten times", func() bool {
		mu.Lock()
		defer mu.Unlock()
		switches := 0
		for i := 1; i < len(notes); i++ {
			if workOf(notes[i]) != workOf(notes[i-1]) {
				switches++
			}
		}
		return switches >= 10
	})
	mu.Lock()
	defer mu.Unlock()
	ids, sent := map[string]bool{}, map[string]bool{}
	for i, n := range notes {
		if ids[n.JobID] {
			t.Fatalf("job id %q sent twice", n.JobID)
		}
		ids[n.JobID] = true
		key := fmt.Sprintf("%s|%d", workOf(n), n.NTime)
		if sent[key] {
			t.Fatalf("notify %d: the same work and ntime %d sent again", i, n.NTime)
		}
		sent[key] = true
		if i > 0 && workOf(n) != workOf(notes[i-1]) && !n.Clean {
			t.Fatalf("notify %d switches pools without clean_jobs", i)
		}
	}
}

// workOf names the unit of work a notify carries (each pool's template differs).
func workOf(n sv1.Notify) string { return fmt.Sprintf("%x|%x|%x", n.PrevHash, n.Coinb1, n.Coinb2) }

//go:build linux && !race

package proxy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestV1ShareFitsTheIdleStack: a miner answering shares keeps no stack once it is idle again:
// its reader is parked (park_linux.go) and the goroutine that read the share is gone, so
// after a collection the stacks in use are what they were before the round. A reader that
// stayed, or a woken reader that never parked again, is 4 KiB per miner. Race-detector
// builds have larger frames and are not measured.
func TestV1ShareFitsTheIdleStack(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial, cfg.Difficulty.Min = 1e-11, 1e-11 // every share valid for the miner
	px, addr := startProxy(t, cfg, Options{})
	const n = 100
	type shareMiner struct {
		r        *rawMiner
		job, en2 string
		ntime    uint32
	}
	ms := make([]shareMiner, n)
	for i := range ms {
		r := dialRaw(t, addr)
		r.send(`{"id":1,"method":"mining.subscribe","params":["raw/1.0"]}`)
		r.send(fmt.Sprintf(`{"id":2,"method":"mining.authorize","params":["rack1.s%d","x"]}`, i))
		var sub sv1.SubscribeResult
		if err := sub.UnmarshalJSON(r.reply("1").Result); err != nil {
			t.Fatal(err)
		}
		var nt sv1.Notify
		if err := r.next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify }).UnmarshalParams(&nt); err != nil {
			t.Fatal(err)
		}
		ms[i] = shareMiner{r: r, job: nt.JobID, en2: strings.Repeat("00", sub.Extranonce2Size), ntime: nt.NTime}
	}
	round := func(k int) {
		for i, m := range ms {
			m.r.send(fmt.Sprintf(`{"id":%d,"method":"mining.submit","params":["rack1.s%d","%s","%s","%08x","%08x"]}`, 100+k, i, m.job, m.en2, m.ntime, k))
		}
		for _, m := range ms {
			if r := m.r.reply(fmt.Sprint(100 + k)); !r.Accepted() {
				t.Fatalf("share %d: %s %v", k, r.Result, r.Error)
			}
		}
	}
	round(0)
	// The least growth over three rounds, each measured after a collection once every miner
	// is parked again: a reader stack left per miner is 4 KiB; anything else is far less.
	parked := func() {
		deadline := time.Now().Add(30 * time.Second)
		for px.park.count() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d idle miners parked", px.park.count(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	parked()
	least := int64(1 << 40)
	for k := 1; k <= 3; k++ {
		runtime.GC()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		round(k)
		parked()
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		least = min(least, int64(after.StackInuse)-int64(before.StackInuse))
	}
	// A kept reader stack is at least 2 KiB per miner; 1 KiB leaves room for a span or two
	// of stack cache that the collections keep (64 KiB over 100 miners).
	if per := least / n; per > 1024 {
		t.Fatalf("stacks grew %d B per miner after answering one share and parking again", per)
	}
}

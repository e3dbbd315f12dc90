//go:build !race

package proxy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestV1ShareFitsTheIdleStack: a reader whose stack the garbage collector shrank to 4 KiB
// while it waited judges and answers a share without growing it again. Growing it back on
// every share after every collection cost 10-15 % of the proxy's CPU at 10,000 miners (a
// stack copy on the way up and another at the next collection). Race-detector builds have
// larger frames and are not measured.
func TestV1ShareFitsTheIdleStack(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	cfg.Difficulty.Initial, cfg.Difficulty.Min = 1e-11, 1e-11 // every share valid for the miner
	_, addr := startProxy(t, cfg, Options{})
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
	// The least growth over three rounds, each after collections that shrink idle stacks: a
	// regrown reader stack is 4 KiB per miner; anything else in the process is far less.
	least := int64(1 << 40)
	for k := 1; k <= 3; k++ {
		runtime.GC()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		round(k)
		runtime.ReadMemStats(&after)
		least = min(least, int64(after.StackInuse)-int64(before.StackInuse))
	}
	if per := least / n; per > 1024 {
		t.Fatalf("stacks grew %d B per miner answering one share after a collection: the share path no longer fits a 4 KiB stack", per)
	}
}

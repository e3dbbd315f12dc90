package proxy

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestFanOutOffersEveryChannelOnce: a publish to 3,000 channels offers the job to each running
// one exactly once, from more than one goroutine when there are cores for it, none to a paused
// one; a channel whose wake panics is logged and skipped, and the rest still get the job.
func TestFanOutOffersEveryChannelOnce(t *testing.T) {
	p, err := New(testConfig("127.0.0.1:1"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := zerolog.New(&logs)
	const n = 3000
	var woken [n]atomic.Int32
	goroutines := goroutineSet{ids: map[string]bool{}}
	chans := make([]*channel, n)
	for i := range chans {
		chans[i] = p.newChannel("sv1", fmt.Sprintf("10.1.%d.%d:4028", i/256, i%256), log, func() {
			woken[i].Add(1)
			goroutines.note()
			if i == 1234 {
				panic("broken session")
			}
		})
		if i%100 == 7 {
			chans[i].paused.Store(true)
		}
	}
	pj := &proxyJob{localID: "2a", seq: 42}
	fanOut(chans, pj, offerRetire)
	for i, c := range chans {
		want := int32(1)
		if i%100 == 7 {
			want = 0
		}
		if got := woken[i].Load(); got != want {
			t.Fatalf("channel %d woken %d times, want %d", i, got, want)
		}
		if got, flags := c.takeOffer(); want == 1 && (got != pj || flags != offerRetire) {
			t.Fatalf("channel %d holds offer %v flags %d", i, got, flags)
		}
	}
	if logs.count("offering a job to a miner crashed") != 1 {
		t.Fatalf("the panic logged %d times", logs.count("offering a job to a miner crashed"))
	}
	if runtime.GOMAXPROCS(0) > 1 && goroutines.distinct() < 2 {
		t.Fatalf("3,000 channels offered from %d goroutine(s) with GOMAXPROCS %d", goroutines.distinct(), runtime.GOMAXPROCS(0))
	}
}

// goroutineSet records which goroutines called note (by the id runtime.Stack prints).
type goroutineSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (g *goroutineSet) note() {
	var b [64]byte
	f := bytes.Fields(b[:runtime.Stack(b[:], false)])
	g.mu.Lock()
	g.ids[string(f[1])] = true
	g.mu.Unlock()
}

func (g *goroutineSet) distinct() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ids)
}

// TestV1BlockReachesManyMiners: 600 V1 miners, enough for the fan-out to split them between
// workers, each read the new block's clean notify, the job the proxy has now.
func TestV1BlockReachesManyMiners(t *testing.T) {
	sp, paddr := startPool(t, nil)
	cfg := testConfig(paddr)
	px, addr := startProxy(t, cfg, Options{})
	ms := make([]*rawMiner, 600)
	for i := range ms {
		ms[i] = dialRaw(t, addr)
		ms[i].handshake(fmt.Sprintf("rackM.m%03d", i))
	}
	sp.NewBlock()
	for i, r := range ms {
		m := r.next(func(m *sv1.Message) bool { return m.Method == sv1.MethodNotify && notifyOf(t, m).Clean })
		if id := notifyOf(t, m).JobID; id != currentJob(px) {
			t.Fatalf("miner %d got job %s, the proxy's is %s", i, id, currentJob(px))
		}
	}
}

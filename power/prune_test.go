package power

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// session is one V1 connection that authorized as a worker and is held open until closed.
type session struct{ c net.Conn }

// connect opens one session per name over loopback, concurrently, and returns once the proxy
// answered every authorize.
func connect(t testing.TB, addr string, names []string) []*session {
	t.Helper()
	out := make([]*session, len(names))
	errs := make(chan error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			out[i] = &session{c}
			hello := `{"id":1,"method":"mining.subscribe","params":["churn/1.0"]}` + "\n" +
				`{"id":2,"method":"mining.authorize","params":["` + name + `","x"]}` + "\n"
			if _, err := c.Write([]byte(hello)); err != nil {
				errs <- err
				return
			}
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
				if strings.HasPrefix(line, `{"id":2,"result":true`) {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

func hangUp(ss []*session) {
	for _, s := range ss {
		s.c.Close()
	}
}

func (c *Controller) inventorySize() (miners, warned int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.miners), len(c.warned)
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestOfflineWorkersForgottenAfterTTL: 8,000 worker names (1,000 with -short) connect and
// disconnect over loopback in waves, half matching a [[fleet]] group and half none, on top of
// the last states a previous run left in the store for 8,000 fleet names. The inventory and the warnings keep them for
// offline_ttl; past it they shrink to what is connected plus what a hold pins (an operator's
// pause, a pause restored from the store), and the store's miner_state keeps only the held
// worker's row.
func TestOfflineWorkersForgottenAfterTTL(t *testing.T) {
	names := 8000
	if testing.Short() {
		names = 1000
	}
	st := openStore(t, filepath.Join(t.TempDir(), "hashgate.db"))
	ctx := context.Background()
	old := epoch.Add(-time.Minute)
	var ds []store.Decision
	for i := range names {
		ds = append(ds, store.Decision{Time: old, MinerID: fmt.Sprintf("rack.w%04d", i), Action: policy.ActionRun.String(), ReasonCode: "budget"})
	}
	ds = append(ds, store.Decision{Time: old, MinerID: "rack.paused", Action: policy.ActionPause.String(), ReasonCode: "deficit"})
	if err := st.RecordDecisions(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	pc := testPolicy()

	cfg := DefaultConfig()
	cfg.OfflineTTL = tomltime.Duration(time.Minute)
	r := newRig(t, startPool(t), rigOptions{cfg: cfg, policy: &pc, store: st, fleet: []policy.FleetGroup{
		{Name: "rack", Pattern: "rack.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1},
	}})
	r.run()
	live := r.stratum("rack.live")
	op := connect(t, r.addr, []string{"rack.op"})
	waitFor(t, "two workers connected", func() bool { return len(r.px.Identities()) == 2 })
	r.advance(time.Second)
	if err := r.c.PauseWorker(ctx, "user:ops", "rack.op"); err != nil {
		t.Fatal(err)
	}
	hangUp(op)

	before := heapInUse()
	const wave = 500
	for w := 0; w < names; w += wave {
		var batch []string
		for i := w; i < w+wave; i++ {
			if i%2 == 0 {
				batch = append(batch, fmt.Sprintf("rack.w%04d", i)) // a fleet miner
			} else {
				batch = append(batch, fmt.Sprintf("stray.w%04d", i)) // matches no group
			}
		}
		ss := connect(t, r.addr, batch)
		r.advance(time.Second)
		hangUp(ss)
		waitFor(t, "the wave gone", func() bool { return len(r.px.Identities()) == 1 })
		r.advance(time.Second)
	}
	miners, warned := r.c.inventorySize()
	// Every stored state (the fleet names among them), the paused one, the operator's and the
	// live worker; a warning per stray name, and one per fleet name about sharing 127.0.0.1.
	if miners != names+3 || warned != names+2 {
		t.Fatalf("within offline_ttl: %d workers, %d warnings; want %d and %d", miners, warned, names+3, names+2)
	}
	churned := heapInUse()

	r.advance(cfg.OfflineTTL.D())
	miners, warned = r.c.inventorySize()
	if miners != 3 || warned != 0 {
		t.Fatalf("after offline_ttl: %d workers, %d warnings; want the live one and the two held, no warnings", miners, warned)
	}
	for w, want := range map[string]Hold{"rack.op": HoldOperator, "rack.paused": HoldRestart, "rack.live": 0} {
		if got := r.c.Holds(w); got != want {
			t.Errorf("%s: holds %s, want %s", w, got, want)
		}
	}
	waitFor(t, "the store to forget the offline workers' states", func() bool {
		states, err := st.LastStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, paused := states["rack.paused"]
		return len(states) == 1 && paused
	})
	if d := r.c.Drops()["power_forget_full"]; d != 0 {
		t.Logf("%d forgets dropped (queue full); forgotten after the next start instead", d)
	}
	if n := live.Stats.Connects.Load(); n != 1 {
		t.Fatalf("the live miner reconnected %d times", n)
	}
	pruned := heapInUse()
	t.Logf("heap: %d B before the churn, %d B after it, %d B once forgotten: %.0f B freed per churned name",
		before, churned, pruned, float64(int64(churned)-int64(pruned))/float64(names))
}

// TestOfflineWorkersBoundedOldestFirst: beyond max_offline, the longest-disconnected hold-free
// workers are forgotten first, whatever offline_ttl says; a held worker is never among them.
func TestOfflineWorkersBoundedOldestFirst(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxOffline = 100
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{cfg: cfg, policy: &pc, fleet: []policy.FleetGroup{
		{Name: "rack", Pattern: "rack.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1},
	}})
	ctx := context.Background()
	held := connect(t, r.addr, []string{"rack.held"})
	waitFor(t, "rack.held connected", func() bool { return len(r.px.Identities()) == 1 })
	r.advance(time.Second)
	if err := r.c.PauseWorker(ctx, "user:ops", "rack.held"); err != nil {
		t.Fatal(err)
	}
	hangUp(held)
	waitFor(t, "rack.held gone", func() bool { return len(r.px.Identities()) == 0 })
	r.advance(time.Second)
	// Three waves of 60, a minute apart: 180 offline, the first wave the oldest.
	for w := range 3 {
		var batch []string
		for i := range 60 {
			batch = append(batch, fmt.Sprintf("rack.w%d-%02d", w, i))
		}
		ss := connect(t, r.addr, batch)
		r.advance(time.Second)
		hangUp(ss)
		waitFor(t, "the wave gone", func() bool { return len(r.px.Identities()) == 0 })
		r.advance(time.Minute)
	}
	gates := r.c.Gates()
	if len(gates) != cfg.MaxOffline+1 {
		t.Fatalf("%d workers kept, want max_offline (%d) and the held one", len(gates), cfg.MaxOffline)
	}
	if gates["rack.held"].Holds != HoldOperator {
		t.Fatal("the held worker was forgotten")
	}
	kept := map[int]int{}
	for id := range gates {
		var w, i int
		if _, err := fmt.Sscanf(id, "rack.w%d-%d", &w, &i); err == nil {
			kept[w]++
		}
	}
	// 180 offline, 100 kept: the 80 forgotten are all of the first wave and 20 of the second.
	if kept[0] != 0 || kept[1] != 40 || kept[2] != 60 {
		t.Fatalf("kept per wave %v, want the newest 100", kept)
	}
}

func TestConfigOfflineKeys(t *testing.T) {
	c := DefaultConfig()
	c.OfflineTTL, c.MaxOffline = tomltime.Duration(time.Second), 0
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "power.offline_ttl") || !strings.Contains(err.Error(), "power.max_offline") {
		t.Fatalf("got %v", err)
	}
}

// TestForgetQueueFullIsCounted: with forgetQueue workers waiting for the store writer, one more
// forgotten worker still leaves the inventory, its row is not queued and the drop is counted
// as power_forget_full.
func TestForgetQueueFullIsCounted(t *testing.T) {
	r := newRig(t, startPool(t), rigOptions{})
	c := r.c
	c.mu.Lock()
	c.forgotten = make([]store.Forget, forgetQueue-1)
	c.minerLocked("rack.a")
	c.minerLocked("rack.b")
	c.forgetLocked("rack.a", epoch)
	c.forgetLocked("rack.b", epoch)
	queued, kept := len(c.forgotten), len(c.miners)
	c.mu.Unlock()
	if d := c.Drops()["power_forget_full"]; d != 1 || queued != forgetQueue || kept != 0 {
		t.Fatalf("drops %d, queued %d, kept %d; want 1, %d, 0", d, queued, kept, forgetQueue)
	}
}

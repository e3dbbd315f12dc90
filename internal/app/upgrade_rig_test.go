package app

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/config"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
)

// upgradeRig is the old process of an upgrade test: a hashgate serving from sockets it will
// pass on, so each hand-over test sets up only what it is about. Everything it starts is
// stopped by t.Cleanup in the reverse order it was started.
type upgradeRig struct {
	t     *testing.T
	ctx   context.Context
	f     config.File
	pool  *pool.Pool
	socks *passedSockets
	old   *App
}

// startUpgradeRig starts a test pool and an old process with one sv1 listener in front of it.
func startUpgradeRig(t *testing.T) *upgradeRig {
	t.Helper()
	sp, paddr := startTestPool(t)
	return startUpgradeRigWith(t, sp, testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr))
}

// startUpgradeRigWith starts an old process from f (its listeners opened to be passed on),
// for tests that need more listeners than startUpgradeRig gives.
func startUpgradeRigWith(t *testing.T, sp *pool.Pool, f config.File) *upgradeRig {
	t.Helper()
	r := &upgradeRig{t: t, f: f, pool: sp, socks: &passedSockets{}}
	t.Cleanup(r.socks.close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r.ctx = ctx
	old, err := StartWith(ctx, &r.f, zerolog.Nop(), Options{Listen: r.socks.listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	r.old = old
	return r
}

// mine starts one reconnecting sv1 miner per username on the old process's first listener;
// they follow the Reconnect of a hand-over to the new process. Callers wait for them mining.
// stop ends them before the test does (for a ledger that must be final).
func (r *upgradeRig) mine(usernames ...string) (ms []*miner.Miner, stop func()) {
	addr := r.old.Addrs[0].String()
	ms = make([]*miner.Miner, len(usernames))
	runners := make([]runner, len(usernames))
	for i, u := range usernames {
		ms[i] = miner.New(miner.Config{Addr: addr, Username: u, HashRate: 20000, Reconnect: true, ReconnectDelay: 50 * time.Millisecond})
		runners[i] = ms[i]
	}
	return ms, r.run(runners...)
}

// runner is a simulated miner of either protocol.
type runner interface{ Run(context.Context) error }

// run runs ms until the test ends, or until the returned stop is called; stop may be called
// more than once.
func (r *upgradeRig) run(ms ...runner) (stop func()) {
	mctx, cancel := context.WithCancel(r.ctx)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(mctx)
		}()
	}
	stop = func() {
		cancel()
		wg.Wait()
	}
	r.t.Cleanup(stop)
	return stop
}

// heldFiles opens the held-gates file as an upgrade passes it: one unlinked file, written by
// the old process and read by the new one through its own descriptor.
func (r *upgradeRig) heldFiles() (oldHeld, newHeld *HeldGates) {
	r.t.Helper()
	tmp, err := os.CreateTemp(r.t.TempDir(), "held")
	if err != nil {
		r.t.Fatal(err)
	}
	inherited, err := os.OpenFile(tmp.Name(), os.O_RDWR, 0)
	if err != nil {
		tmp.Close()
		r.t.Fatal(err)
	}
	os.Remove(tmp.Name())
	oldHeld, newHeld = NewHeldGates(tmp), NewHeldGates(inherited)
	r.t.Cleanup(func() { oldHeld.Close() })
	r.t.Cleanup(func() { newHeld.Close() })
	return oldHeld, newHeld
}

// takeOver starts the new process on the passed sockets with ho (its Ready and ParentGone
// are the rig's) and returns once it is ready. It finishes starting, sending itself (nil if
// it failed) on started, only after the test closes oldGone.
func (r *upgradeRig) takeOver(ho Handover) (started <-chan *App, oldGone chan<- struct{}) {
	r.t.Helper()
	ready, gone := make(chan struct{}), make(chan struct{})
	out := make(chan *App, 1)
	ho.Ready = func() error { close(ready); return nil }
	ho.ParentGone = func(ctx context.Context) error {
		select {
		case <-gone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() {
		a, err := StartWith(r.ctx, &r.f, zerolog.Nop(), Options{Listen: r.socks.inherit, Handover: &ho})
		if err != nil {
			r.t.Error(err)
		}
		out <- a
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		r.t.Fatal("the new process never got ready")
	}
	return out, gone
}

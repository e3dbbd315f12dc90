package app

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/store"
)

// passedSockets hands one process's listening sockets to the next in the order they were
// opened, as duplicated descriptors: what an upgrade passes to the new process.
type passedSockets struct {
	mu    sync.Mutex
	files []*os.File
	next  int
}

func (p *passedSockets) listen(network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	fh, err := l.(*net.TCPListener).File()
	if err != nil {
		l.Close()
		return nil, err
	}
	p.mu.Lock()
	p.files = append(p.files, fh)
	p.mu.Unlock()
	return l, nil
}

func (p *passedSockets) inherit(network, addr string) (net.Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fh := p.files[p.next]
	p.next++
	return net.FileListener(fh)
}

func (p *passedSockets) close() {
	for _, fh := range p.files {
		fh.Close()
	}
}

// TestHandOverKeepsHoldsAndShares: two hashgates in one process hand over as an upgrade does,
// over the same sockets and store. An operator-paused miner stays paused on the new process
// while the old one still owns the store (the held list it passed), and after the new one has
// restored its holds from the store; the other miner keeps mining; the new process opens the
// store only once the old one has closed it, and every share the pool accepted across the
// hand-over is in the ledger, those the new process held meanwhile included.
func TestHandOverKeepsHoldsAndShares(t *testing.T) {
	sp, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	socks := &passedSockets{}
	defer socks.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old, err := StartWith(ctx, &f, zerolog.Nop(), Options{Listen: socks.listen})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	addr := old.Addrs[0].String()
	held := miner.New(miner.Config{Addr: addr, Username: "acct.held", HashRate: 20000, Reconnect: true, ReconnectDelay: 50 * time.Millisecond})
	free := miner.New(miner.Config{Addr: addr, Username: "acct.free", HashRate: 20000, Reconnect: true, ReconnectDelay: 50 * time.Millisecond})
	mctx, stopMiners := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, m := range []*miner.Miner{held, free} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(mctx)
		}()
	}
	defer func() {
		stopMiners()
		wg.Wait()
	}()
	waitFor(t, "both miners mining", func() bool { return held.Stats.Accepted.Load() > 0 && free.Stats.Accepted.Load() > 0 })
	if err := old.Power.PauseWorker(ctx, "user:ops", "acct.held"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held miner told it is paused", func() bool { return held.Rejects()[26] > 0 })

	ready, oldGone := make(chan struct{}), make(chan struct{})
	started := make(chan *App, 1)
	go func() {
		a, err := StartWith(ctx, &f, zerolog.Nop(), Options{Listen: socks.inherit, Handover: &Handover{
			Ready: func() error { close(ready); return nil },
			ParentGone: func(ctx context.Context) error {
				select {
				case <-oldGone:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			},
			Paused: old.Proxy.PausedWorkers(),
		}})
		if err != nil {
			t.Error(err)
		}
		started <- a
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("the new process never got ready")
	}
	heldConns, freeConns, freeAcc := held.Stats.Connects.Load(), free.Stats.Connects.Load(), free.Stats.Accepted.Load()
	// A paused miner is sent no work: one that gets a job was let go.
	heldJobs := held.Stats.Jobs.Load()
	if err := old.HandOver(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// The old process has closed its store; the new one has not opened it (ParentGone holds
	// it): the miners are on the new process, the held one still held.
	waitFor(t, "both miners on the new process", func() bool {
		return held.Stats.Connects.Load() > heldConns && free.Stats.Connects.Load() > freeConns && free.Stats.Accepted.Load() > freeAcc+3
	})
	if n := held.Stats.Jobs.Load(); n != heldJobs {
		t.Fatalf("the held miner got %d jobs from the new process before its store opened", n-heldJobs)
	}
	select {
	case a := <-started:
		t.Fatalf("the new process finished starting (store %v) before the old one was gone", a != nil && a.Store != nil)
	default:
	}
	close(oldGone)
	var a *App
	select {
	case a = <-started:
	case <-time.After(time.Minute):
		t.Fatal("the new process never opened the store")
	}
	if a == nil {
		t.FailNow()
	}
	defer a.Close()
	if a.Power.Holds("acct.held") == 0 || a.Power.Holds("acct.free") != 0 {
		t.Fatalf("holds after the hand-over: held %v, free %v", a.Power.Holds("acct.held"), a.Power.Holds("acct.free"))
	}
	freeAcc = free.Stats.Accepted.Load()
	waitFor(t, "the free miner mining on", func() bool { return free.Stats.Accepted.Load() > freeAcc+3 })
	if n := held.Stats.Jobs.Load(); n != heldJobs {
		t.Fatalf("the held miner got %d jobs after the hand-over", n-heldJobs)
	}
	for _, w := range a.Proxy.Workers() {
		if w.Worker == "acct.held" && w.State != "paused" {
			t.Fatalf("acct.held is %s on the new process, want paused", w.State)
		}
	}

	stopMiners()
	wg.Wait()
	// Every forwarded share has its verdict before the store closes.
	if left := a.sink.settle(ctx); left != 0 {
		t.Fatalf("%d verdicts missing", left)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, f.Store, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.ShareStats(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	var accepted int64
	for _, w := range stats {
		accepted += w.PoolAccepted.Count
	}
	if uint64(accepted) != sp.Accepted() {
		t.Fatalf("the pool accepted %d shares, the ledger has %d", sp.Accepted(), accepted)
	}
}

package app

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
	"github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/store"
)

// TestLedgerSlowDiskDoesNotStallJobs: while another connection holds the database's write
// lock (a slow disk: the store's commits wait in SQLite's busy handler, they do not fail), the
// store's queues fill with pool verdicts. A new block from the pool must still reach the
// miners at once, and no verdict may be given up on: once the lock goes every one is
// committed.
func TestLedgerSlowDiskDoesNotStallJobs(t *testing.T) {
	const queueSize = directRoom + 1
	ctx := context.Background()
	// Every share is a pool share.
	sp, paddr := startPoolWith(t, func(pc *pool.Config) { pc.Difficulty = 1e-6 })
	// A writer stuck on one event, the queue small; slow, not failing.
	st, conn := lockableStore(t, queueSize)
	t.Cleanup(func() { st.Close() })
	led := &ledger{st: st, log: zerolog.Nop()}

	pcfg := proxy.DefaultConfig()
	pcfg.Pools = []proxy.PoolConfig{{Name: "p", URL: "stratum+tcp://" + paddr, User: "acct", Password: "x"}}
	pcfg.Difficulty = proxy.DifficultyConfig{Initial: 1e-6, Min: 1e-7, SharesPerMinute: 600, RetargetEvery: proxy.Duration(time.Minute)}
	px, err := proxy.New(pcfg, proxy.Options{Sink: led})
	if err != nil {
		t.Fatal(err)
	}
	px.Start(ctx)
	t.Cleanup(func() { px.Close() })
	addr, err := px.ListenV1("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	// Another process takes the write lock and keeps it until the block has reached the miner.
	execOn(t, conn, "BEGIN IMMEDIATE")
	locked := true
	unlock := func() {
		if locked {
			locked = false
			execOn(t, conn, "ROLLBACK")
		}
	}
	defer unlock()

	mctx, stop := context.WithCancel(ctx)
	defer stop()
	m := miner.New(miner.Config{Addr: addr.String(), Username: "rack3.m01", HashRate: 200000})
	go m.Run(mctx)
	// Far more verdicts than the store can hold while its writer waits for the lock.
	waitFor(t, "pool verdicts to pile up", func() bool { return sp.Accepted() >= queueSize })
	waitFor(t, "the store's queue to fill while the lock is held", func() bool { return st.Stats().LosslessQueued == queueSize })
	jobs := m.Stats.Jobs.Load()
	start := time.Now()
	sp.NewBlock()
	waitFor(t, "the new block to reach the miner", func() bool { return m.Stats.Jobs.Load() > jobs })
	t.Logf("new block reached the miner %v after the pool sent it, write lock held", time.Since(start))
	if !locked || st.Stats().SharesLost != 0 {
		t.Fatalf("while the lock was held: %d verdicts given up on", st.Stats().SharesLost)
	}
	stop()
	unlock()
	px.Close() // every verdict the proxy will get is in the ledger now
	waitFor(t, "the ledger to hand every verdict to the store", func() bool { _, running := backlogOf(led); return !running })
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s := st.Stats()
	if s.SharesLost != 0 || s.LosslessQueued != 0 {
		t.Fatalf("after the lock went: %+v", s)
	}
	t.Logf("store after the lock went: %+v; pool accepted %d", s, sp.Accepted())
}

// TestLedgerBacklogBounded: with the store's writer held by another connection's lock, the
// ledger keeps ledgerBacklog verdicts waiting and no more; the ones past it are offered to the
// full store without waiting and counted lost there. Once the lock goes every kept one is
// committed; verdicts still waiting when the store closes are dropped with one log line.
func TestLedgerBacklogBounded(t *testing.T) {
	const queueSize = directRoom + 1
	ctx := context.Background()
	st, conn := lockableStore(t, queueSize)
	defer st.Close()
	var logs lockedBuffer
	led := &ledger{st: st, log: zerolog.New(&logs), max: 100}
	execOn(t, conn, "BEGIN IMMEDIATE")
	// One in the writer's batch, the store's queue full, one in the hand-over's hands, the
	// ledger's backlog full, and some past it.
	led.RecordShare(verdict(0))
	waitFor(t, "the writer to take the first verdict", func() bool { return st.Stats().LosslessQueued == 0 })
	const over = 5
	total := 1 + queueSize + led.max + over + 1
	for n := 1; n < total; n++ {
		led.RecordShare(verdict(n)) // returns at once: the test would hang otherwise
	}
	kept, _ := backlogOf(led)
	if kept != led.max || st.Stats().LosslessQueued != queueSize {
		t.Fatalf("backlog %d, store queue %d; want both full (%d, %d)", kept, st.Stats().LosslessQueued, led.max, queueSize)
	}
	// The hand-over takes one from the backlog when it runs, before the flood ends or after.
	if lost := st.Stats().SharesLost; lost < over || lost > over+1 {
		t.Fatalf("%d verdicts lost past the backlog, want %d or %d", lost, over, over+1)
	}
	execOn(t, conn, "ROLLBACK")
	waitFor(t, "the backlog to reach the store", func() bool { _, running := backlogOf(led); return !running })
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := st.Stats(); s.SharesCommitted+s.SharesLost != uint64(total) || s.SharesCommitted < uint64(total-over-1) {
		t.Fatalf("after the lock went: %+v; %d sent, at most %d may be lost", s, total, over)
	}

	// The lock again, a backlog, and the store closes under it.
	execOn(t, conn, "BEGIN IMMEDIATE")
	for i := range 1 + queueSize + 5 {
		led.RecordShare(verdict(i))
	}
	waitFor(t, "a backlog", func() bool { n, _ := backlogOf(led); return n > 0 })
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	waitFor(t, "the backlog dropped at close", func() bool { n, running := backlogOf(led); return !running && n == 0 })
	if strings.Count(logs.String(), "pool verdicts still waiting for the store when it closed") != 1 {
		t.Fatalf("close log: %s", logs.String())
	}
	execOn(t, conn, "ROLLBACK")
	<-closed
}

// lockableStore opens a real store whose queue holds queueSize events and a second
// connection to its file: BEGIN IMMEDIATE there holds the writer's lock, so the store's
// commits wait (a slow disk) without failing.
func lockableStore(t *testing.T, queueSize int) (*store.Store, *sql.Conn) {
	t.Helper()
	scfg := store.DefaultConfig()
	scfg.Path = filepath.Join(t.TempDir(), "hashgate.db")
	scfg.QueueSize, scfg.MaxBatch = queueSize, 1
	scfg.BusyTimeout = 10 * time.Minute
	st, err := store.Open(context.Background(), scfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return st, otherConn(t, "file:"+scfg.Path)
}

// backlogOf is what led holds back: the verdicts waiting in its backlog, and whether its
// hand-over to the store runs.
func backlogOf(led *ledger) (waiting int, running bool) {
	led.mu.Lock()
	defer led.mu.Unlock()
	return len(led.backlog), led.running
}

// verdict is a pool verdict, lossless in the store, with a hash of its own.
func verdict(i int) proxy.ShareEvent {
	return proxy.ShareEvent{Time: time.Now(), Worker: "rack3.m01", Pool: "p", JobID: "1", Difficulty: 1, ShareDiff: 2,
		Result: proxy.ResultPoolAccepted, Hash: [32]byte{byte(i), byte(i >> 8), byte(i >> 16), 1}}
}

// TestLedgerDrainedBeforeTheStoreCloses: verdicts that wait in the ledger for a slow disk are
// still waiting while the disk stays slow (drain says how many when its time is up), and are
// all committed, none lost, once the disk takes them: App.Close drains before it closes the
// store.
func TestLedgerDrainedBeforeTheStoreCloses(t *testing.T) {
	const queueSize = directRoom + 1
	ctx := context.Background()
	st, conn := lockableStore(t, queueSize)
	defer st.Close()
	led := &ledger{st: st, log: zerolog.Nop()}
	execOn(t, conn, "BEGIN IMMEDIATE")
	const total = 1 + queueSize + 40
	for i := range total {
		led.RecordShare(verdict(i))
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	left := led.drain(short)
	cancel()
	if left == 0 {
		t.Fatal("drain found nothing waiting while the store's writer is locked")
	}
	done := make(chan int, 1)
	go func() { done <- led.drain(ctx) }()
	execOn(t, conn, "ROLLBACK")
	if n := <-done; n != 0 {
		t.Fatalf("drain ended with %d waiting", n)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := st.Stats(); s.SharesCommitted != total || s.SharesLost != 0 {
		t.Fatalf("after the drain: %+v; want %d committed, none lost", s, total)
	}
}

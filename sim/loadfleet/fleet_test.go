package loadfleet

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/work"
)

// startPool runs the simulated pool on loopback. Its difficulty of 1e-9 makes roughly one
// header in four a share, so a load miner that built its header wrongly would see most of its
// shares rejected as low difficulty.
func startPool(t testing.TB) (*simpool.Pool, string) {
	t.Helper()
	cfg := simpool.DefaultConfig()
	cfg.Difficulty = 1e-9
	cfg.JobInterval, cfg.BlockInterval = 0, 0
	p, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, addr
}

func TestFleetSubmitsRealShares(t *testing.T) {
	pool, addr := startPool(t)
	cfg := DefaultConfig()
	cfg.Addr = addr
	cfg.Miners = 20
	cfg.Rate = 2000
	cfg.MaxTries = 1 << 10
	cfg.TrackDifficulty = 1e-9
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(runCtx)
	}()
	// Wait for a few hundred verdicts, then a block, then more verdicts on the new block.
	waitFor(t, ctx, func() bool { return f.Stats().Replies >= 300 })
	lat, missing := f.TimeBlock(ctx, pool.NewBlock)
	if missing != 0 || len(lat) != cfg.Miners {
		t.Fatalf("block reached %d miners, %d missing", len(lat), missing)
	}
	for _, d := range lat {
		if d < 0 {
			t.Fatalf("negative block latency %v", d)
		}
	}
	before := pool.Accepted()
	waitFor(t, ctx, func() bool { return pool.Accepted() >= before+100 })
	stop()
	<-done
	st := f.Stats()
	// Shares written for the old block may be answered stale; nothing else may be rejected.
	for reason, n := range st.Rejected {
		if reason != "21_stale" {
			t.Errorf("%d shares rejected (%s)", n, reason)
		}
	}
	if st.Accepted == 0 || pool.Accepted() < st.Accepted {
		t.Fatalf("fleet saw %d accepted, pool counted %d", st.Accepted, pool.Accepted())
	}
	if st.Hashes <= st.Submitted {
		t.Errorf("%d hashes for %d shares at difficulty 1e-9: the miners did not search", st.Hashes, st.Submitted)
	}
	if f.Tracker().Stats().Added == 0 {
		t.Error("no share was tracked")
	}
	if h := f.ReplyLatency(); h.Count() == 0 || h.Quantile(0.5) <= 0 {
		t.Errorf("reply latency: %d samples, p50 %v", h.Count(), h.Quantile(0.5))
	}
}

func TestConnectReportsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := DefaultConfig()
	cfg.Addr, cfg.Miners = addr, 3
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.Connect(ctx); err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
	if st := f.Stats(); st.DialErrors != 3 {
		t.Fatalf("dial errors %d, want 3", st.DialErrors)
	}
}

func waitFor(t testing.TB, ctx context.Context, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("timed out waiting")
		case <-tick.C:
		}
	}
}

// BenchmarkLoadMinerShare is the fleet's cost of one share at a saturated (every hash is a
// share) difficulty: header hash, line encoding and the write to a loopback socket. The
// miner gets its job from the simulated pool, then its socket is swapped for one whose far
// end discards, so only the fleet's side is measured.
func BenchmarkLoadMinerShare(b *testing.B) {
	pool, addr := startPool(b)
	_ = pool
	cfg := DefaultConfig()
	cfg.Addr, cfg.Miners, cfg.MaxInflight = addr, 1, 1<<30
	f, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	m := f.miners[0].(*loadMiner)
	sink := discardConn(b)
	m.mu.Lock()
	m.job.target = easiestTarget()
	orig := m.conn
	m.conn = sink
	m.mu.Unlock()
	defer orig.Close() // Close closes the sink: the pool connection's reader ends here

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := m.submit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkShareBuild is the CPU part of a share alone: hash and encode, no I/O.
func BenchmarkShareBuild(b *testing.B) {
	pool, addr := startPool(b)
	_ = pool
	cfg := DefaultConfig()
	cfg.Addr, cfg.Miners = addr, 1
	f, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	m := f.miners[0].(*loadMiner)
	m.mu.Lock()
	defer m.mu.Unlock()
	lj := m.job
	lj.target = easiestTarget()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		nonce, _, err := m.nextShare(lj)
		if err != nil {
			b.Fatal(err)
		}
		m.line = appendSubmit(m.line[:0], submitIDBase+int64(nonce), m.name, lj, m.en2, lj.job.NTime, nonce)
	}
}

func easiestTarget() (t work.Target) {
	for i := range t {
		t[i] = 0xff
	}
	return t
}

// discardConn returns a loopback connection whose far end reads and drops everything.
func discardConn(t testing.TB) net.Conn {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

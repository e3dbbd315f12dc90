package loadfleet

import (
	"context"
	"testing"
	"time"

	"github.com/hashgate/hashgate/proxy"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/noise"
)

// TestV2FleetSettlesEveryProxyVerdict: V2 miners through the real proxy to a V1 pool, a third
// of the shares forwarded, verdict_wait racing the pool's verdicts and new blocks every 100ms
// making shares stale in flight. The fleet settles every reply against a share it sent: no
// unknown reply, and nothing left pending once the replies are in.
func TestV2FleetSettlesEveryProxyVerdict(t *testing.T) {
	pcfg := simpool.DefaultConfig()
	pcfg.Difficulty = 3.0 / (1 << 32) // a third of the miners' shares (difficulty 1e-9)
	pcfg.JobInterval, pcfg.BlockInterval = 0, 100*time.Millisecond
	pool, err := simpool.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	paddr, err := pool.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	cfg := proxy.DefaultConfig()
	cfg.Pools = []proxy.PoolConfig{{Name: "p", URL: "stratum+tcp://" + paddr, User: "acct", Password: "x"}}
	cfg.Difficulty = proxy.DifficultyConfig{Initial: 1e-9, Min: 1e-9, Max: 1e-9, SharesPerMinute: 6000, RetargetEvery: proxy.Duration(time.Hour)}
	cfg.SubmitRate = 1e6
	cfg.VerdictWait = proxy.Duration(2 * time.Millisecond)
	px, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	px.Start(context.Background())
	defer px.Close()
	auth, err := noise.GenerateAuthority(nil)
	if err != nil {
		t.Fatal(err)
	}
	static, err := noise.NewKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := noise.IssueServerCertificate(auth, static, now.Add(-time.Hour), now.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	v2addr, err := px.ListenV2("127.0.0.1:0", static, cert)
	if err != nil {
		t.Fatal(err)
	}

	fcfg := DefaultConfig()
	fcfg.Miners, fcfg.V2Miners = 6, 6
	fcfg.V2Addr, fcfg.Authority = v2addr.String(), auth.PublicKey()
	fcfg.Rate, fcfg.MaxInflight = 3000, 32
	fcfg.MaxTries = 1 << 12
	fcfg.TrackDifficulty = pcfg.Difficulty
	f, err := New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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
	waitFor(t, ctx, func() bool {
		st := f.Stats()
		return st.Replies >= 4000 && st.Rejected["sv2_stale-share"] > 0 || st.Unknown > 0
	})
	stop()
	<-done
	// The pacers are stopped; what is still in flight is answered within verdict_wait.
	waitFor(t, ctx, func() bool {
		st := f.Stats()
		return st.Replies+st.Unknown >= st.Submitted
	})
	st := f.Stats()
	t.Logf("submitted %d, replies %d, accepted %d, rejected %v, success frames %d", st.Submitted, st.Replies, st.Accepted, st.Rejected, st.SuccessFrames)
	if st.Unknown != 0 || st.Replies != st.Submitted {
		t.Fatalf("%d unknown replies; %d replies for %d shares", st.Unknown, st.Replies, st.Submitted)
	}
	for _, mb := range f.miners {
		m := mb.(*v2Miner)
		m.mu.Lock()
		left := len(m.pending)
		m.mu.Unlock()
		if left != 0 || m.inflight.Load() != 0 {
			t.Fatalf("%s: %d shares pending, %d in flight after every reply", m.name, left, m.inflight.Load())
		}
	}
}

package loadfleet

import (
	"context"
	"errors"
	"testing"
	"time"

	simpool2 "github.com/hashgate/hashgate/sim/pool2"
	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv2"
)

// startPool2 runs the simulated SV2 pool on loopback at difficulty 1e-9 (about one header in
// four a share), so a V2 load miner that built its header wrongly sees most shares rejected.
func startPool2(t testing.TB) (*simpool2.Pool, string) {
	t.Helper()
	cfg := simpool2.DefaultConfig()
	cfg.Difficulty = 1e-9
	cfg.JobInterval, cfg.BlockInterval = 0, 0
	p, err := simpool2.New(cfg)
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

// V2 miners over Noise against the SV2 pool: every share is a real header the pool rebuilds
// from its own job, on extended and on standard channels, across a new block.
func TestV2FleetSubmitsRealShares(t *testing.T) {
	for _, standard := range []bool{false, true} {
		name := "extended"
		if standard {
			name = "standard"
		}
		t.Run(name, func(t *testing.T) {
			pool, addr := startPool2(t)
			cfg := DefaultConfig()
			cfg.Miners, cfg.V2Miners = 10, 10
			cfg.V2Addr, cfg.Authority, cfg.V2Standard = addr, pool.AuthorityPublicKey(), standard
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
			if st := f.Stats(); st.NoiseHandshakes != uint64(cfg.Miners) || f.HandshakeLatency().Count() != uint64(cfg.Miners) {
				t.Fatalf("%d handshakes counted, %d timed; want %d", st.NoiseHandshakes, f.HandshakeLatency().Count(), cfg.Miners)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.Run(runCtx)
			}()
			waitFor(t, ctx, func() bool { return f.Stats().Replies >= 300 })
			lat, missing := f.TimeBlock(ctx, pool.NewBlock)
			if missing != 0 || len(lat) != cfg.Miners {
				t.Fatalf("block reached %d miners, %d missing", len(lat), missing)
			}
			before := pool.Accepted()
			waitFor(t, ctx, func() bool { return pool.Accepted() >= before+100 })
			stop()
			<-done
			st := f.Stats()
			for reason, n := range st.Rejected {
				if reason != "sv2_stale-share" {
					t.Errorf("%d shares rejected (%s)", n, reason)
				}
			}
			if st.Accepted == 0 || pool.Accepted() < st.Accepted {
				t.Fatalf("fleet saw %d accepted, pool counted %d", st.Accepted, pool.Accepted())
			}
			if st.Hashes <= st.Submitted {
				t.Errorf("%d hashes for %d shares at difficulty 1e-9: the miners did not search", st.Hashes, st.Submitted)
			}
			if st.Unknown != 0 || st.SuccessFrames == 0 {
				t.Errorf("%d unknown replies, %d success frames", st.Unknown, st.SuccessFrames)
			}
			if f.Tracker().Stats().Added == 0 {
				t.Error("no share was tracked")
			}
			if h := f.ReplyLatency(); h.Count() == 0 || h.Quantile(0.5) <= 0 {
				t.Errorf("reply latency: %d samples, p50 %v", h.Count(), h.Quantile(0.5))
			}
		})
	}
}

// A server whose certificate another authority signed is refused by every miner.
func TestV2FleetRefusesWrongAuthority(t *testing.T) {
	_, addr := startPool2(t)
	other, err := noise.GenerateAuthority(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Miners, cfg.V2Miners = 3, 3
	cfg.V2Addr, cfg.Authority = addr, other.PublicKey()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Connect(ctx); !errors.Is(err, ErrNotReady) {
		t.Fatalf("connect: %v", err)
	}
	if st := f.Stats(); st.Handshake != 3 || st.NoiseHandshakes != 0 || st.Live != 0 {
		t.Fatalf("handshake errors %d, noise handshakes %d, live %d", st.Handshake, st.NoiseHandshakes, st.Live)
	}
}

// settleSuccess and settleError: a batch acknowledges last and the local verdicts before it,
// leaving an older forwarded share pending until its own verdict; a forwarded share's late
// verdict is batched with the local ones answered meanwhile.
func TestV2SettleVerdicts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Miners, cfg.V2Miners, cfg.V2Addr = 1, 1, "127.0.0.1:1"
	cfg.Authority[0] = 1
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := f.miners[0].(*v2Miner)
	const fwd = 1 << 31 // marks a forwarded share in send's arguments
	send := func(seqs ...uint32) {
		for _, s := range seqs {
			m.pending = append(m.pending, sentShare{seq: s &^ fwd, at: int64(s&^fwd) * 100, fwd: s&fwd != 0})
			m.inflight.Add(1)
		}
	}
	pendingSeqs := func() (out []uint32) {
		for _, p := range m.pending {
			out = append(out, p.seq)
		}
		return out
	}
	// 3 was forwarded to the pool; 4 and 5 were judged locally and acknowledged together.
	send(3|fwd, 4, 5)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 5, NewSubmitsAcceptedCount: 2}, 1000)
	if got := pendingSeqs(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("pending %v after the batch, want [3]", got)
	}
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 3, NewSubmitsAcceptedCount: 1}, 1000)
	// 8 and 10 wait for the pool; 9 and 11 are answered locally, and 8's verdict arrives
	// after them: one batch ending at 8 holds 8, 9 and 11, leaving 10 pending.
	send(8|fwd, 9, 10|fwd, 11)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 8, NewSubmitsAcceptedCount: 3}, 1500)
	if got := pendingSeqs(); len(got) != 1 || got[0] != 10 {
		t.Fatalf("pending %v after the late verdict, want [10]", got)
	}
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 10, ErrorCode: "difficulty-too-low"}, 1500)
	send(6, 7)
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 6, ErrorCode: "stale-share"}, 2000)
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 99, ErrorCode: "stale-share"}, 2000)
	// Sequence numbers wrap: 0xffffffff precedes 0.
	m.seq = 0xfffffffe
	send(0xffffffff, 0)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 0, NewSubmitsAcceptedCount: 4}, 3000)
	if got := pendingSeqs(); len(got) != 0 {
		t.Fatalf("pending %v, want none", got)
	}
	st := f.Stats()
	// 3 after 5 went backwards; so did 0 after 8, only because the test jumped the sequence.
	if st.SuccessBackwards != 2 {
		t.Errorf("%d Success frames going backwards, want 2", st.SuccessBackwards)
	}
	if st.Replies != 11 || st.Accepted != 9 || st.Rejected["sv2_stale-share"] != 1 || st.Rejected["sv2_difficulty-too-low"] != 1 || st.Unknown != 2 || st.SuccessFrames != 4 {
		t.Fatalf("replies %d accepted %d rejected %v unknown %d frames %d", st.Replies, st.Accepted, st.Rejected, st.Unknown, st.SuccessFrames)
	}
	if m.inflight.Load() != 0 {
		t.Fatalf("inflight %d, want 0", m.inflight.Load())
	}
	if h := f.ReplyLatency(); h.Count() != 11 || h.Max() != 3000 {
		t.Fatalf("latency samples %d, max %v; want 11, 3µs (share 0, written at 0)", h.Count(), h.Max())
	}
}

func TestIsV2SpreadsEvenly(t *testing.T) {
	for _, c := range []struct{ n, v2 int }{{10, 0}, {10, 5}, {10, 10}, {7, 3}, {1, 1}, {1000, 333}} {
		got, run, maxRun := 0, 0, 0
		for i := 0; i < c.n; i++ {
			if isV2(i, c.n, c.v2) {
				got++
				run = 0
			} else if run++; run > maxRun {
				maxRun = run
			}
		}
		if got != c.v2 {
			t.Errorf("n=%d v2=%d: %d V2 members", c.n, c.v2, got)
		}
		if c.v2 > 0 && maxRun > (c.n+c.v2-1)/c.v2 {
			t.Errorf("n=%d v2=%d: %d V1 members in a row", c.n, c.v2, maxRun)
		}
	}
}

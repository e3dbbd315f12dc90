package loadfleet

import (
	"context"
	"errors"
	"fmt"
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

// settleSuccess and settleError: a batch acknowledges last and the shares before it, never one
// sent after it (last is the highest sequence number acknowledged); local verdicts before
// forwarded ones, the oldest forwarded share first. A guess an Error later proves wrong is
// corrected, not counted as an unknown reply.
func TestV2SettleVerdicts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Miners, cfg.V2Miners, cfg.V2Addr = 1, 1, "127.0.0.1:1"
	cfg.Authority[0] = 1
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := f.miners[0].(*v2Miner)
	// send records written shares; a negative number is a forwarded share.
	send := func(seqs ...int64) {
		for _, s := range seqs {
			seq := uint32(max(s, -s))
			at := int64(seq) * 100
			if seq > 1000 {
				at = 0
			}
			m.pending = append(m.pending, sentShare{seq: seq, at: at, fwd: s < 0})
			m.inflight.Add(1)
		}
	}
	wantPending := func(step string, want ...uint32) {
		t.Helper()
		var got []uint32
		for _, p := range m.pending {
			got = append(got, p.seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) && len(got)+len(want) > 0 {
			t.Fatalf("%s: pending %v, want %v", step, got, want)
		}
	}
	// 3 was forwarded to the pool; 4 and 5 were judged locally and acknowledged together.
	send(-3, 4, 5)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 5, NewSubmitsAcceptedCount: 2}, 1000)
	wantPending("local batch", 3)
	// A server that reports last going backwards (hashgate does not) is still settled exactly.
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 3, NewSubmitsAcceptedCount: 1}, 1000)
	// 8 and 10 wait for the pool; 9 and 11 are answered locally, then 8's late verdict comes
	// alone, under the last already acknowledged.
	send(-8, 9, -10, 11)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 11, NewSubmitsAcceptedCount: 2}, 1500)
	wantPending("locals before last", 8, 10)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 11, NewSubmitsAcceptedCount: 1}, 1500)
	wantPending("late verdict", 10)
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 10, ErrorCode: "difficulty-too-low"}, 1500)
	// Two forwarded verdicts in one batch ending at the newer; 22, sent after it, is the
	// stale share the next frame rejects. Settling 22 with the batch counted that Error as
	// an unknown reply (TestBenchEndToEnd/child-sv2, once under load).
	send(-20, -21, 22)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 21, NewSubmitsAcceptedCount: 2}, 2500)
	wantPending("two verdicts", 22)
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 22, ErrorCode: "stale-share"}, 2500)
	// 31's verdict comes before 30's (its pool was unavailable, so it was answered at once):
	// the batch is taken for 30, until 30's own rejection shows it was 31.
	send(-30, -31, 32)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 32, NewSubmitsAcceptedCount: 1}, 3300)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 32, NewSubmitsAcceptedCount: 1}, 3300)
	wantPending("out of order guess", 31)
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 30, ErrorCode: "stale-share"}, 3500)
	wantPending("guess corrected")
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 99, ErrorCode: "stale-share"}, 3500)
	m.settleError(&sv2.SubmitSharesError{SequenceNumber: 30, ErrorCode: "stale-share"}, 3500) // twice
	// Sequence numbers wrap: 0xffffffff precedes 0; 40, after 0, is taken only as the last
	// resort of a count larger than the shares before last.
	m.seq = 0xfffffffe
	send(40, 0xffffffff, 0)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 0, NewSubmitsAcceptedCount: 2}, 4000)
	wantPending("wraparound", 40)
	m.settleSuccess(&sv2.SubmitSharesSuccess{LastSequenceNumber: 0, NewSubmitsAcceptedCount: 2}, 4000)
	wantPending("count beyond pending")
	st := f.Stats()
	// 3 after 5 went backwards; so did 0 after 32, only because the test jumped the sequence.
	if st.SuccessBackwards != 2 {
		t.Errorf("%d Success frames going backwards, want 2", st.SuccessBackwards)
	}
	if st.Replies != 16 || st.Accepted != 13 || st.Rejected["sv2_stale-share"] != 2 || st.Rejected["sv2_difficulty-too-low"] != 1 || st.Unknown != 3 || st.SuccessFrames != 9 {
		t.Fatalf("replies %d accepted %d rejected %v unknown %d frames %d", st.Replies, st.Accepted, st.Rejected, st.Unknown, st.SuccessFrames)
	}
	if m.inflight.Load() != 0 {
		t.Fatalf("inflight %d, want 0", m.inflight.Load())
	}
	if h := f.ReplyLatency(); h.Count() != 16 || h.Max() != 4000 {
		t.Fatalf("latency samples %d, max %v; want 16, 4µs (shares 0 and 0xffffffff, written at 0)", h.Count(), h.Max())
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

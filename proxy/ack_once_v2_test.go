package proxy

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv2"
)

// v2Answers checks every reply to one SV2 channel's submits as it arrives: an Error names a
// share sent and not answered by an Error before, a Success never ends at a share answered
// by an Error nor goes backwards, and the shares answered never outnumber those sent.
type v2Answers struct {
	mu sync.Mutex
	// sent is the highest sequence number written; accepted and errs the answers so far.
	sent     uint32
	accepted uint32
	errs     map[uint32]string
	last     uint32
	bad      string
	// job and tip are the latest work, for the next burst.
	job *sv2.NewExtendedMiningJob
	tip *sv2.SetNewPrevHash
}

// answeredLocked counts the shares answered; a.mu is held.
func (a *v2Answers) answeredLocked() uint32 { return a.accepted + uint32(len(a.errs)) }

// fail keeps the first broken rule; a.mu is held.
func (a *v2Answers) fail(what string) {
	if a.bad == "" {
		a.bad = what
	}
}

// read takes replies until the connection ends.
func (a *v2Answers) read(r *rawV2) {
	for {
		m, err := r.recv()
		if err != nil {
			return
		}
		a.mu.Lock()
		switch m := m.(type) {
		case *sv2.SubmitSharesSuccess:
			a.accepted += m.NewSubmitsAcceptedCount
			switch {
			case m.NewSubmitsAcceptedCount == 0:
				a.fail("a Success acknowledging nothing")
			case int32(m.LastSequenceNumber-a.sent) > 0:
				a.fail("a Success ending after the last share sent")
			case int32(m.LastSequenceNumber-a.last) < 0:
				a.fail("a Success going backwards")
			case a.errs[m.LastSequenceNumber] != "":
				a.fail("a Success ending at a share answered with an error")
			}
			a.last = m.LastSequenceNumber
		case *sv2.SubmitSharesError:
			switch {
			case m.SequenceNumber == 0 || int32(m.SequenceNumber-a.sent) > 0:
				a.fail("an error for a share never sent")
			case a.errs[m.SequenceNumber] != "":
				a.fail("a share answered by two errors")
			case m.SequenceNumber == a.last:
				a.fail("an error for the share the last Success ended at")
			}
			a.errs[m.SequenceNumber] = m.ErrorCode
		case *sv2.NewExtendedMiningJob:
			a.job = m // a future one is activated by the SetNewPrevHash that follows
		case *sv2.SetNewPrevHash:
			a.tip = m
		}
		if a.answeredLocked() > a.sent {
			a.fail("more answers than shares sent")
		}
		a.mu.Unlock()
	}
}

// TestV2EveryShareAnsweredOnce: bursts of shares, some judged here, some forwarded to a pool
// that accepts, then rejects everything, with verdicts racing verdict_wait's local answer and
// new blocks making shares stale in flight, with duplicates and unknown jobs among them. Every
// share is answered exactly once: the Success counts and the errors add up to the shares
// sent, no Success ends at a share answered with an error, and nothing comes after.
//
// verdict_wait runs on a manual clock, so which answer wins is chosen per burst, not by how
// busy the machine is: in the first rejecting burst the pool's verdicts always come first
// (the clock stands still), in the second the clock is moved on while the verdicts are on
// their way, a real race.
func TestV2EveryShareAnsweredOnce(t *testing.T) {
	pool, paddr := startPool(t, func(c *simpool.Config) {
		// About half of all hashes meet this difficulty: half the shares are forwarded.
		c.Difficulty = 2.0 / (1 << 32)
	})
	cfg := testConfig(paddr)
	cfg.Difficulty = DifficultyConfig{Initial: 1e-10, Min: 1e-10, Max: 1e-10, SharesPerMinute: 6000, RetargetEvery: Duration(time.Hour)}
	cfg.SubmitRate = 1e6
	// The pool's verdict and the local answer race: whichever comes first is the only one.
	cfg.VerdictWait = Duration(time.Millisecond)
	clk := clock.NewManual(time.Now())
	px, _ := startProxy(t, cfg, Options{Clock: clk})
	k := newV2Keys(t)
	la, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	addr := la.String()
	r := dialRawV2(t, addr, k.authority.PublicKey())
	ok, job, snp := openRawChannel(t, r, "raw.once")
	a := &v2Answers{errs: map[uint32]string{}, job: job, tip: snp}
	done := make(chan struct{})
	go func() { defer close(done); a.read(r) }()

	const bursts, perBurst = 24, 40
	var x [8]byte
	var prev []byte
	for b := range bursts {
		switch b % 6 {
		case 2:
			pool.SetMode(simpool.RejectAll)
		case 4:
			pool.SetMode(simpool.Normal)
		case 5:
			pool.NewBlock() // shares in flight and the next burst's are stale
		}
		a.mu.Lock()
		j, tip := a.job, a.tip
		a.mu.Unlock()
		var burst []byte
		for i := range perBurst {
			a.mu.Lock()
			a.sent++
			seq := a.sent
			a.mu.Unlock()
			binary.LittleEndian.PutUint64(x[:], uint64(seq))
			s := &sv2.SubmitSharesExtended{ChannelID: ok.ChannelID, SequenceNumber: seq, JobID: j.JobID,
				NTime: tip.MinNTime, Nonce: seq * 2654435761, Version: j.Version, Extranonce: x[:ok.ExtranonceSize]}
			switch {
			case i%13 == 5 && prev != nil:
				// The previous share again, under a new sequence number: a duplicate.
				copy(x[:], prev)
				s.Nonce = (seq - 1) * 2654435761
				s.Extranonce = x[:ok.ExtranonceSize]
			case i%17 == 3:
				s.JobID += 1000
			}
			prev = append(prev[:0], x[:ok.ExtranonceSize]...)
			burst = append(burst, mustFrame(t, s)...)
		}
		if _, err := r.nc.Write(burst); err != nil {
			t.Fatal(err)
		}
		if b%6 == 3 {
			// The local answers race the pool's rejections still on their way.
			for range 20 {
				clk.Advance(cfg.VerdictWait.D())
				time.Sleep(50 * time.Microsecond)
			}
		}
		// Keep at most two bursts unanswered, so late verdicts meet the next burst's answers.
		eventually(t, "the burst before last answered", func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.sent-a.answeredLocked() <= 2*perBurst || a.bad != ""
		})
	}
	eventually(t, "every share answered", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.answeredLocked() == a.sent || a.bad != ""
	})
	// A last share nobody accepts: its error is the next answer, with no stray Success before.
	a.mu.Lock()
	a.sent++
	probe := a.sent
	before := a.accepted
	a.mu.Unlock()
	r.send(&sv2.SubmitSharesExtended{ChannelID: ok.ChannelID, SequenceNumber: probe, JobID: 0xfffffff0, Extranonce: x[:ok.ExtranonceSize]})
	eventually(t, "the probe answered", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.errs[probe] != "" || a.bad != ""
	})
	r.nc.Close()
	<-done
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.bad != "" {
		t.Fatalf("%s (sent %d, accepted %d, errors %d)", a.bad, a.sent, a.accepted, len(a.errs))
	}
	if a.accepted != before || a.accepted+uint32(len(a.errs)) != a.sent {
		t.Fatalf("sent %d shares: %d accepted and %d errors (%d accepted before the probe)", a.sent, a.accepted, len(a.errs), before)
	}
	codes := map[string]int{}
	for _, c := range a.errs {
		codes[c]++
	}
	// Every path was taken: the pool's rejections, stale and duplicate shares, unknown jobs.
	for _, c := range []string{"stale-share", "duplicate-share", "invalid-job-id"} {
		if codes[c] == 0 {
			t.Errorf("no %s error among %v", c, codes)
		}
	}
	t.Logf("%d shares: %d accepted, errors %v", a.sent, a.accepted, codes)
	if a.accepted == 0 || len(codes) < 4 {
		t.Errorf("accepted %d, errors %v: not every path was taken", a.accepted, codes)
	}
}

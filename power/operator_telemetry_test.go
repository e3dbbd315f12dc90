package power

import (
	"errors"
	"testing"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/policy/firmware"
	simfw "github.com/hashgate/hashgate/sim/firmware"
)

// TestTelemetryKeptPerMiner: the Controller keeps each polled miner's latest reading; a miner
// whose firmware starts answering garbage keeps its last good status with the poll's error
// beside it, and a miner that leaves is forgotten with its reading after offline_ttl.
func TestTelemetryKeptPerMiner(t *testing.T) {
	fleet, sims := operatorFleet(t)
	pc := holdsPolicy()
	cfg := DefaultConfig()
	cfg.OfflineTTL = tomltime.Duration(10 * time.Minute)
	r := newRig(t, startPool(t), rigOptions{cfg: cfg, policy: &pc, fleet: fleet})
	r.run()
	hangups := map[string]func(){}
	for _, w := range []string{"bos.a", "bos.b"} {
		r.stratum(w)
		hangups[w] = r.hangup[w]
	}
	waitFor(t, "two miners connected", func() bool { return len(r.px.Identities()) == 2 })
	r.advance(time.Second)
	r.observe(100)
	polled := func(w string, ok func(MinerTelemetry) bool) {
		t.Helper()
		waitFor(t, w+" polled", func() bool {
			mt, known := r.c.MinerTelemetry(w)
			if known && ok(mt) {
				return true
			}
			r.clk.Advance(time.Second)
			time.Sleep(5 * time.Millisecond)
			return false
		})
	}
	polled("bos.a", func(mt MinerTelemetry) bool { return !mt.StatusAt.IsZero() && mt.Status.Has(firmware.FieldFans) })
	first, _ := r.c.MinerTelemetry("bos.a")

	sims["bos.a"].SetFaults(simfw.FaultGarbage)
	polled("bos.a", func(mt MinerTelemetry) bool { return mt.PollErr != nil })
	mt, _ := r.c.MinerTelemetry("bos.a")
	if !errors.Is(mt.PollErr, firmware.ErrProtocol) || mt.StatusAt != first.StatusAt || mt.Status != first.Status || !mt.PolledAt.After(mt.StatusAt) {
		t.Fatalf("after a garbage reply: %+v (first %+v)", mt, first)
	}
	sims["bos.a"].SetFaults(0)
	polled("bos.a", func(mt MinerTelemetry) bool { return mt.PollErr == nil && mt.StatusAt.After(first.StatusAt) })

	// bos.b leaves; offline_ttl later its state and reading are gone, bos.a's are not.
	polled("bos.b", func(mt MinerTelemetry) bool { return !mt.StatusAt.IsZero() })
	hangups["bos.b"]()
	waitFor(t, "bos.b gone", func() bool { return len(r.px.Identities()) == 1 })
	r.advance(time.Second)
	if _, ok := r.c.MinerTelemetry("bos.b"); !ok {
		t.Fatal("bos.b's reading dropped before offline_ttl")
	}
	r.advance(cfg.OfflineTTL.D())
	if _, ok := r.c.MinerTelemetry("bos.b"); ok {
		t.Fatal("bos.b's reading kept after offline_ttl")
	}
	if mt, ok := r.c.MinerTelemetry("bos.a"); !ok || mt.StatusAt.IsZero() {
		t.Fatal("bos.a's reading lost")
	}
}

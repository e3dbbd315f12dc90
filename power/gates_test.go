package power

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/firmware"
)

// TestGatesSayWhyAndWhatProves: Gates reports each worker's holds and the evidence that makes
// it proven — a share, a firmware answer, a hold — and no proof for a silent session, for a
// worker no [[fleet]] group controls, or once the evidence is older than proven_window.
func TestGatesSayWhyAndWhatProves(t *testing.T) {
	pc := testPolicy()
	r := newRig(t, startPool(t), rigOptions{policy: &pc, fleet: []policy.FleetGroup{
		{Name: "rack", Pattern: "rack.*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1},
	}})
	// No site meter reading ever arrives, so the policy decides nothing: every hold below is
	// the operator's.
	r.run()
	r.stratum("rack.mine")
	r.silent("rack.idle")
	r.silent("rack.fw")
	r.silent("lab.bench") // matches no group
	waitFor(t, "four sessions, a share from rack.mine", func() bool {
		ids := r.px.Identities()
		for _, id := range ids {
			if id.Worker == "rack.mine" && !id.LastShare.IsZero() {
				return len(ids) == 4
			}
		}
		return false
	})
	r.advance(time.Second)
	// What the telemetry poller hands over when a firmware answers "running".
	r.c.report(Telemetry{ID: "rack.fw", At: r.clk.Now(), Status: firmware.Status{State: firmware.StateRunning}})

	check := func(when string, want map[string]Gate) {
		t.Helper()
		got := r.c.Gates()
		for w, g := range want {
			if got[w] != g {
				t.Errorf("%s: %s is %s/%s, want %s/%s", when, w, got[w].Holds, got[w].Proof, g.Holds, g.Proof)
			}
		}
	}
	check("connected", map[string]Gate{"rack.mine": {Proof: ProofShare}, "rack.idle": {}, "rack.fw": {Proof: ProofFirmware},
		"lab.bench": {}})
	if g, ok := r.c.Gates()["lab.bench"]; ok {
		t.Errorf("a worker with no group and no hold has state: %+v", g)
	}

	// An operator hold proves a session (held, it cannot submit) and outlives the hold by
	// proven_window; a worker no group controls is held and still not the policy's.
	ctx := context.Background()
	for _, w := range []string{"rack.idle", "lab.bench"} {
		if err := r.c.PauseWorker(ctx, "user:ops", w); err != nil {
			t.Fatal(err)
		}
	}
	check("paused", map[string]Gate{"rack.idle": {Holds: HoldOperator, Proof: ProofHeld}, "lab.bench": {Holds: HoldOperator}})
	if !r.gateClosed("lab.bench") {
		t.Fatal("lab.bench's gate is open under an operator hold")
	}
	if err := r.c.ResumeWorker(ctx, "user:ops", "rack.idle"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rack.idle's gate open", func() bool { return r.c.Holds("rack.idle") == 0 })
	check("resumed", map[string]Gate{"rack.idle": {Proof: ProofHeld}})

	// Evidence expires; the hashing miner stays proven by newer shares.
	r.clk.Advance(r.c.cfg.ProvenWindow.D() + time.Second)
	now := r.clk.Now()
	waitFor(t, "a share from rack.mine after the window", func() bool {
		for _, id := range r.px.Identities() {
			if id.Worker == "rack.mine" {
				return !id.LastShare.Before(now)
			}
		}
		return false
	})
	r.c.syncOnce()
	check("after proven_window", map[string]Gate{"rack.mine": {Proof: ProofShare}, "rack.idle": {}, "rack.fw": {},
		"lab.bench": {Holds: HoldOperator}})
}

func TestHoldAndProofNames(t *testing.T) {
	for h, want := range map[Hold]string{0: "none", HoldOperator: "operator", HoldPolicy | HoldOperator: "policy,operator",
		HoldRestart | HoldSafety: "restart,safety", holdAll: "policy,operator,restart,safety"} {
		if h.String() != want {
			t.Errorf("%08b: %q, want %q", h, h.String(), want)
		}
	}
	for p, want := range map[Proof]string{ProofNone: "none", ProofHeld: "held", ProofShare: "share", ProofFirmware: "firmware", 9: "unknown"} {
		if b, _ := p.MarshalText(); string(b) != want {
			t.Errorf("proof %d: %q, want %q", p, b, want)
		}
	}
}

// BenchmarkGates10k is the console's per-second read of 10,000 workers' gates: one pass over
// the inventory under the Controller's lock, one in ten workers held, the rest proven by a
// share.
func BenchmarkGates10k(b *testing.B) {
	px, _ := startProxy(b, deadAddr(b), nil)
	pc := testPolicy()
	g := policy.FleetGroup{Name: "g", Pattern: "*", Firmware: "none", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1}
	c, err := New(context.Background(), DefaultConfig(), Options{Policy: &pc, Fleet: []policy.FleetGroup{g}, Proxy: px})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	c.mu.Lock()
	for k := range 10000 {
		id := fmt.Sprintf("w%05d", k)
		m := c.minerLocked(id)
		m.connected, m.group, m.lastShare = true, &c.groups[0], now
		if k%10 == 0 {
			m.holds = HoldPolicy
		}
	}
	c.mu.Unlock()
	b.ReportAllocs()
	for b.Loop() {
		if gs := c.Gates(); len(gs) != 10000 || !gs["w00001"].Proven() {
			b.Fatal(len(gs))
		}
	}
}

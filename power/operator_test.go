package power

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/firmware"
	simfw "github.com/hashgate/hashgate/sim/firmware"
	"github.com/hashgate/hashgate/store"
)

// braiins runs a simulated Braiins OS gRPC endpoint (power target 1,500..4,000 W) and returns
// its address and its miner.
func braiins(t testing.TB) (string, *simfw.Miner) {
	t.Helper()
	m, err := simfw.NewMiner(simfw.DefaultMinerConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := simfw.NewBraiins(m, nil, "", "", 0, zerolog.Nop())
	a, err := b.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a.String(), m
}

// operatorFleet is two throttleable Braiins miners and one Bitaxe (no power target, no LED).
func operatorFleet(t *testing.T) ([]policy.FleetGroup, map[string]*simfw.Miner) {
	sims := map[string]*simfw.Miner{}
	bos := policy.FleetGroup{Name: "bos", Pattern: "bos.*", Firmware: "braiins", RatedKW: 3.5, MinKW: 1.5, EfficiencyJTH: 17.5,
		Priority: 1, Addresses: map[string]string{}}
	for _, w := range []string{"bos.a", "bos.b"} {
		bos.Addresses[w], sims[w] = braiins(t)
	}
	axe := policy.FleetGroup{Name: "axe", Pattern: "axe.*", Firmware: "bitaxe", RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 1,
		Addresses: map[string]string{}}
	axe.Addresses["axe.a"], sims["axe.a"] = bitaxe(t)
	return []policy.FleetGroup{bos, axe}, sims
}

func resultsByWorker(rs []OperatorResult) map[string]OperatorResult {
	out := make(map[string]OperatorResult, len(rs))
	for _, r := range rs {
		out[r.Worker] = r
	}
	return out
}

func auditSubjects(t *testing.T, st *store.Store, kind string) map[string]store.Event {
	t.Helper()
	evs, err := st.Events(context.Background(), store.EventQuery{Kind: kind, Page: store.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Event{}
	for _, e := range evs {
		out[e.Subject] = e
	}
	return out
}

// TestOperatorFirmwareCommands runs telemetry, bulk locate, reboot and power profile through
// the Controller against simulated firmware: each miner's outcome on its own, audited per
// worker with the actor, counted in FirmwareResults; a power profile is the ceiling of the
// policy's commands (its restore to full power sends the profile), waits for a paused miner
// and survives a restart.
func TestOperatorFirmwareCommands(t *testing.T) {
	fleet, sims := operatorFleet(t)
	pc := holdsPolicy()
	dbPath := filepath.Join(t.TempDir(), "hashgate.db")
	st := openStore(t, dbPath)
	poolAddr := startPool(t)
	ctx := context.Background()
	workers := []string{"bos.a", "bos.b", "axe.a"}

	r := newRig(t, poolAddr, rigOptions{policy: &pc, fleet: fleet, store: st})
	r.run()
	for _, w := range workers {
		r.stratum(w)
	}
	waitFor(t, "three miners with a valid share", func() bool {
		n := 0
		for _, id := range r.px.Identities() {
			if !id.LastShare.IsZero() {
				n++
			}
		}
		return n == 3
	})
	r.advance(time.Second)
	r.observe(100)
	waitFor(t, "three miners adopted", func() bool { return r.c.runner.Snapshot().Applied >= 3 })

	// Telemetry: the latest poll of each miner, hardware included. The poller's rounds run
	// on the manual clock: a second at a time until bos.a's slot comes.
	waitFor(t, "bos.a polled", func() bool {
		mt, ok := r.c.MinerTelemetry("bos.a")
		if ok && !mt.StatusAt.IsZero() && mt.Status.Has(firmware.FieldChipTemp) {
			return true
		}
		r.clk.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
		return false
	})
	mt, _ := r.c.MinerTelemetry("bos.a")
	if mt.Firmware != "braiins" || !mt.Controllable || mt.PollErr != nil || math.Abs(mt.Status.ChipTempC-80) > 1 ||
		len(mt.Status.Fans()) != 4 || mt.Status.BoardsTotal != 3 {
		t.Fatalf("bos.a telemetry %+v", mt)
	}
	if _, ok := r.c.MinerTelemetry("nobody"); ok {
		t.Fatal("telemetry for an unknown worker")
	}

	// Locate: on for a Braiins miner; the Bitaxe has no LED; an unknown name fails alone.
	res := resultsByWorker(r.c.Locate(ctx, "user:ops", []string{"bos.a", "axe.a", "nobody"}, true))
	if res["bos.a"].Err != nil || !sims["bos.a"].State().Locate {
		t.Fatalf("locate bos.a: %v", res["bos.a"].Err)
	}
	if !errors.Is(res["axe.a"].Err, firmware.ErrUnsupported) || !errors.Is(res["nobody"].Err, ErrNotFound) {
		t.Fatalf("locate axe.a: %v, nobody: %v", res["axe.a"].Err, res["nobody"].Err)
	}
	if ev := auditSubjects(t, st, KindLocate); ev["bos.a"].Actor != "user:ops" || string(ev["bos.a"].Detail) != `{"on":true}` {
		t.Fatalf("locate audit %+v", ev)
	}

	// Reboot: sent once, audited.
	res = resultsByWorker(r.c.Reboot(ctx, "user:ops", []string{"bos.b"}))
	if res["bos.b"].Err != nil || sims["bos.b"].State().Reboots != 1 {
		t.Fatalf("reboot bos.b: %v, %d reboots", res["bos.b"].Err, sims["bos.b"].State().Reboots)
	}
	if ev := auditSubjects(t, st, KindReboot); ev["bos.b"].Actor != "user:ops" {
		t.Fatalf("reboot audit %+v", ev)
	}

	// Power profile: within the Braiins constraints it is sent; the Bitaxe has no power
	// target; out of range is refused before anything is recorded or sent.
	out, err := r.c.SetPowerProfile(ctx, "user:ops", []string{"bos.a", "axe.a"}, 2500)
	if err != nil {
		t.Fatal(err)
	}
	res = resultsByWorker(out)
	if res["bos.a"].Err != nil || res["bos.a"].Deferred || sims["bos.a"].State().TargetW != 2500 {
		t.Fatalf("profile bos.a: %+v, target %v", res["bos.a"], sims["bos.a"].State().TargetW)
	}
	if !errors.Is(res["axe.a"].Err, firmware.ErrUnsupported) {
		t.Fatalf("profile axe.a: %v", res["axe.a"].Err)
	}
	out, _ = r.c.SetPowerProfile(ctx, "user:ops", []string{"bos.b"}, 9000)
	if !errors.Is(out[0].Err, firmware.ErrOutOfRange) || sims["bos.b"].State().TargetW != 3500 {
		t.Fatalf("profile of 9 kW: %v, target %v", out[0].Err, sims["bos.b"].State().TargetW)
	}
	if _, err := r.c.SetPowerProfile(ctx, "user:ops", []string{"bos.b"}, -1); !errors.Is(err, ErrBadProfile) {
		t.Fatalf("negative profile: %v", err)
	}
	if ev := auditSubjects(t, st, KindPowerProfile); len(ev) != 1 || string(ev["bos.a"].Detail) != `{"watts":2500}` {
		t.Fatalf("profile audit %+v", ev)
	}

	// The policy sheds everything; a profile set while bos.b sleeps waits for its run.
	if err := r.c.SetCap(ctx, "user:ops", 0.1, r.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"bos.a", "bos.b"} {
		r.waitHolds(w, HoldPolicy)
		waitFor(t, w+" asleep", func() bool { return sims[w].State().Sleeping })
	}
	out, _ = r.c.SetPowerProfile(ctx, "user:ops", []string{"bos.b"}, 2000)
	if out[0].Err != nil || !out[0].Deferred || sims["bos.b"].State().TargetW != 3500 {
		t.Fatalf("profile of a sleeping miner: %+v, target %v", out[0], sims["bos.b"].State().TargetW)
	}
	// The restore to full power sends each miner's profile instead of its 3.5 kW rating.
	if err := r.c.ClearCap(ctx, "user:ops"); err != nil {
		t.Fatal(err)
	}
	r.advance(pc.MinPause.D() + time.Second)
	r.observe(100)
	for w, want := range map[string]float64{"bos.a": 2500, "bos.b": 2000} {
		r.waitHolds(w, 0)
		waitFor(t, w+" awake at its profile", func() bool { s := sims[w].State(); return !s.Sleeping && s.TargetW == want })
	}

	// A policy throttle above the profile is sent as the profile; one below it as it is.
	for _, c := range []struct{ kw, want float64 }{{3.0, 2500}, {2.0, 2000}} {
		d := policy.Decision{MinerID: "bos.a", Action: policy.ActionThrottle, TargetKW: c.kw, FromKW: 3.5}
		if err := r.c.Apply(ctx, d); err != nil {
			t.Fatalf("throttle to %v kW: %v", c.kw, err)
		}
		if got := sims["bos.a"].State().TargetW; got != c.want {
			t.Fatalf("throttle to %v kW under a 2500 W profile: target %v W, want %v", c.kw, got, c.want)
		}
	}

	fr := map[[3]string]uint64{}
	for _, x := range r.c.FirmwareResults() {
		fr[[3]string{x.Firmware, x.Command, x.Result}] = x.Count
	}
	for k, n := range map[[3]string]uint64{
		{"braiins", "locate", "ok"}: 1, {"bitaxe", "locate", "unsupported"}: 1, {"braiins", "reboot", "ok"}: 1,
		{"braiins", "power_profile", "ok"}: 2, {"braiins", "set_power_target", "ok"}: 2, {"bitaxe", "power_profile", "unsupported"}: 1, {"braiins", "power_profile", "error"}: 1,
	} {
		if fr[k] != n {
			t.Errorf("firmware results %v = %d, want %d (all: %v)", k, fr[k], n, fr)
		}
	}
	r.stop()

	// Restart: the profiles are back before the miners connect; a cleared one stays cleared.
	r2 := newRig(t, poolAddr, rigOptions{policy: &pc, fleet: fleet, store: st, clk: clock.NewManual(r.clk.Now().Add(time.Minute))})
	if a, b := r2.c.profileW("bos.a"), r2.c.profileW("bos.b"); a != 2500 || b != 2000 {
		t.Fatalf("profiles after the restart: a %d, b %d", a, b)
	}
	r2.run()
	r2.stratum("bos.a")
	waitFor(t, "bos.a back", func() bool { return len(r2.px.Identities()) == 1 })
	r2.advance(time.Second)
	out, _ = r2.c.SetPowerProfile(ctx, "user:ops", []string{"bos.a"}, 0)
	if out[0].Err != nil || sims["bos.a"].State().TargetW != 4000 || r2.c.profileW("bos.a") != 0 {
		t.Fatalf("clearing the profile: %+v, target %v", out[0], sims["bos.a"].State().TargetW)
	}
	r2.stop()
	r3 := newRig(t, poolAddr, rigOptions{policy: &pc, fleet: fleet, store: st, clk: clock.NewManual(r.clk.Now().Add(2 * time.Minute))})
	if a := r3.c.profileW("bos.a"); a != 0 {
		t.Fatalf("a cleared profile came back: %d W", a)
	}
}

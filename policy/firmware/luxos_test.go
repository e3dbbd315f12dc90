package firmware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

type luxRig struct {
	clk    *sim.ManualClock
	miner  *sim.Miner
	srv    *sim.LuxOS
	target firmware.Target
	drv    firmware.Driver
}

func newLuxRig(t *testing.T, simIdle time.Duration) *luxRig {
	t.Helper()
	clk := sim.NewManualClock(epoch)
	m := newSimMiner(t, clk)
	srv := sim.NewLuxOS(m, clk, simIdle, zerolog.Nop())
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &luxRig{clk: clk, miner: m, srv: srv, target: firmware.Target{ID: "lux-1", Addr: addr.String()},
		drv: newDriver(t, firmware.LuxOS, testConfig(stepClock{clk}))}
}

func TestLuxOSSleepWakeRoundTrip(t *testing.T) {
	r := newLuxRig(t, 0)
	ctx := context.Background()
	st, err := r.drv.Status(ctx, r.target)
	if err != nil {
		t.Fatal(err)
	}
	// The status read does not ask for SUMMARY's hashrate (the hardware
	// read takes only its Elapsed).
	if st.State != firmware.StateRunning || st.PowerW != 3500 || st.PowerTargetW != 3500 || st.Known&^firmware.HardwareFields != firmware.FieldPower|firmware.FieldPowerTarget {
		t.Fatalf("initial status %+v", st)
	}
	if err := r.drv.Sleep(ctx, r.target); err != nil {
		t.Fatal(err)
	}
	if !r.miner.State().Sleeping {
		t.Fatal("simulated miner not asleep after confirmed Sleep")
	}
	r.clk.Advance(5 * time.Second) // RampDown
	st, err = r.drv.Status(ctx, r.target)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != firmware.StateSleeping || st.PowerW != 25 {
		t.Fatalf("asleep status %+v", st)
	}
	if err := r.drv.Wake(ctx, r.target); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(5 * time.Second) // half of RampUp
	st, _ = r.drv.Status(ctx, r.target)
	if st.State != firmware.StateRunning || st.PowerW <= 25 || st.PowerW >= 3500 {
		t.Fatalf("mid-ramp status %+v", st)
	}
}

func TestLuxOSPowerTargetPicksProfile(t *testing.T) {
	r := newLuxRig(t, 0)
	ctx := context.Background()
	caps, err := r.drv.Capabilities(ctx, r.target)
	if err != nil {
		t.Fatal(err)
	}
	if !caps.PowerTarget || caps.MinW != 1750 || caps.MaxW != 3500 || len(caps.Steps) != 4 {
		t.Fatalf("capabilities %+v", caps)
	}
	if err := r.drv.SetPowerTarget(ctx, r.target, 2500); err != nil {
		t.Fatal(err)
	}
	if got := r.miner.State(); got.Profile != "445MHz" || got.TargetW != 2300 {
		t.Fatalf("miner after SetPowerTarget(2500): %+v", got)
	}
	st, _ := r.drv.Status(ctx, r.target)
	if st.PowerTargetW != 2300 {
		t.Fatalf("read-back target %v", st.PowerTargetW)
	}
	if err := r.drv.SetPowerTarget(ctx, r.target, 1000); !errors.Is(err, firmware.ErrOutOfRange) {
		t.Fatalf("below every profile: %v", err)
	}
}

// TestLuxOSStatusKeepsProfileTable puts other miners behind one address,
// as a re-tune or a profile edit would change the one miner there: Status
// keeps the profile table it read (a new table with the old names shows
// only after LuxProfilesTTL) but reads the table again at once when CONFIG
// names a profile it lacks.
func TestLuxOSStatusKeepsProfileTable(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	drv := newDriver(t, firmware.LuxOS, testConfig(stepClock{clk}))
	addr := "127.0.0.1:0"
	var srv *sim.LuxOS
	// serve replaces the miner behind addr by one drawing nominalW under
	// the profile of that Watts in profiles, if any.
	serve := func(nominalW float64, profiles ...sim.Profile) {
		t.Helper()
		if srv != nil {
			srv.Close()
		}
		mc := sim.DefaultMinerConfig()
		mc.NominalW, mc.Profiles = nominalW, profiles
		m, err := sim.NewMiner(mc, clk)
		if err != nil {
			t.Fatal(err)
		}
		srv = sim.NewLuxOS(m, clk, 0, zerolog.Nop())
		a, err := srv.Listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = a.String()
	}
	t.Cleanup(func() { srv.Close() })
	status := func() firmware.Status {
		t.Helper()
		st, err := drv.Status(context.Background(), firmware.Target{ID: "lux-1", Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	want := func(st firmware.Status, powerW, targetW float64) {
		t.Helper()
		if st.PowerW != powerW || !st.Has(firmware.FieldPower) || !st.Has(firmware.FieldPowerTarget) || st.PowerTargetW != targetW {
			t.Fatalf("status %+v, want %v W under a %v W target", st, powerW, targetW)
		}
	}

	serve(3500, sim.Profile{Name: "default", Watts: 3500}, sim.Profile{Name: "445MHz", Watts: 2300})
	want(status(), 3500, 3500)

	serve(3400, sim.Profile{Name: "default", Watts: 3400}, sim.Profile{Name: "445MHz", Watts: 2250})
	want(status(), 3400, 3500) // the table read a moment ago
	clk.Advance(firmware.LuxProfilesTTL)
	want(status(), 3400, 3400)

	serve(3300, sim.Profile{Name: "stock", Watts: 3300})
	want(status(), 3300, 3300) // "stock" is not in the table: read again

	// A current profile the miner does not list has no target.
	serve(3200, sim.Profile{Name: "stock", Watts: 3300})
	if st := status(); st.PowerW != 3200 || st.Has(firmware.FieldPowerTarget) {
		t.Fatalf("unlisted profile: %+v", st)
	}
	if st := status(); st.PowerW != 3200 || st.Has(firmware.FieldPowerTarget) {
		t.Fatalf("unlisted profile, second read: %+v", st)
	}
}

func TestLuxOSAuthRefused(t *testing.T) {
	r := newLuxRig(t, 0)
	r.miner.SetFaults(sim.FaultRejectAuth)
	err := r.drv.Sleep(context.Background(), r.target)
	if !errors.Is(err, firmware.ErrAuth) {
		t.Fatalf("want ErrAuth, got %v", err)
	}
	if r.miner.State().Sleeping {
		t.Fatal("miner slept without a session")
	}
}

func TestLuxOSSessionExpiryRecovers(t *testing.T) {
	r := newLuxRig(t, 10*time.Second) // the miner forgets sessions sooner than the driver expects
	ctx := context.Background()
	if err := r.drv.Sleep(ctx, r.target); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(20 * time.Second)
	if err := r.drv.Wake(ctx, r.target); err != nil {
		t.Fatalf("wake after server-side expiry: %v", err)
	}
	if r.miner.State().Sleeping {
		t.Fatal("still asleep")
	}
}

func TestLuxOSReusesSessionHeldElsewhere(t *testing.T) {
	r := newLuxRig(t, 0)
	other := newDriver(t, firmware.LuxOS, testConfig(stepClock{r.clk}))
	ctx := context.Background()
	if err := other.Sleep(ctx, r.target); err != nil {
		t.Fatal(err)
	}
	if err := r.drv.Wake(ctx, r.target); err != nil {
		t.Fatalf("wake while another client holds the session: %v", err)
	}
	if err := other.(firmware.SessionCloser).CloseSessions(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLuxOSSuccessButNothingChanged(t *testing.T) {
	r := newLuxRig(t, 0)
	r.miner.SetFaults(sim.FaultIgnoreWrites)
	ctx := context.Background()
	if err := r.drv.Sleep(ctx, r.target); !errors.Is(err, firmware.ErrNotConfirmed) {
		t.Fatalf("sleep: want ErrNotConfirmed, got %v", err)
	}
	if err := r.drv.SetPowerTarget(ctx, r.target, 2000); !errors.Is(err, firmware.ErrNotConfirmed) {
		t.Fatalf("power target: want ErrNotConfirmed, got %v", err)
	}
}

func TestLuxOSTimeout(t *testing.T) {
	r := newLuxRig(t, 0)
	r.miner.SetFaults(sim.FaultStall)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := r.drv.Status(ctx, r.target)
	if !errors.Is(err, firmware.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
}

func TestLuxOSGarbageReply(t *testing.T) {
	r := newLuxRig(t, 0)
	r.miner.SetFaults(sim.FaultGarbage)
	ctx := context.Background()
	if _, err := r.drv.Status(ctx, r.target); !errors.Is(err, firmware.ErrProtocol) {
		t.Fatalf("status: want ErrProtocol, got %v", err)
	}
	if err := r.drv.Sleep(ctx, r.target); !errors.Is(err, firmware.ErrProtocol) {
		t.Fatalf("sleep: want ErrProtocol, got %v", err)
	}
}

// BenchmarkLuxOSStatus is one telemetry read against a simulator in this
// process: its time includes the simulator's side, its allocations are the
// driver's and the simulator's.
func BenchmarkLuxOSStatus(b *testing.B) {
	m, err := sim.NewMiner(sim.DefaultMinerConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := sim.NewLuxOS(m, nil, 0, zerolog.Nop())
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	drv := newDriver(b, firmware.LuxOS, firmware.DefaultConfig())
	target := firmware.Target{ID: "lux-1", Addr: addr.String()}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := drv.Status(ctx, target); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

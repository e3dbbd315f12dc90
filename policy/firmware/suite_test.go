package firmware_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

// rig is one driver wired to its simulator over loopback.
type rig struct {
	clk    *sim.ManualClock
	miner  *sim.Miner
	target firmware.Target
	drv    firmware.Driver
}

type closer interface{ Close() error }

// startSim builds a miner from mc, serves it with listen, and returns the
// rig for driver name.
func startSim(t *testing.T, name string, mc sim.MinerConfig, serve func(*sim.Miner, *sim.ManualClock) (closer, func(string) (net.Addr, error))) *rig {
	t.Helper()
	clk := sim.NewManualClock(epoch)
	m, err := sim.NewMiner(mc, clk)
	if err != nil {
		t.Fatal(err)
	}
	srv, listen := serve(m, clk)
	addr, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &rig{clk: clk, miner: m, target: firmware.Target{ID: name, Addr: addr.String()},
		drv: newDriver(t, name, testConfig(stepClock{clk}))}
}

// rigs lists every driver with a simulator.
var rigs = map[string]func(t *testing.T) *rig{
	firmware.LuxOS: func(t *testing.T) *rig {
		return startSim(t, firmware.LuxOS, sim.DefaultMinerConfig(), func(m *sim.Miner, c *sim.ManualClock) (closer, func(string) (net.Addr, error)) {
			s := sim.NewLuxOS(m, c, 0, zerolog.Nop())
			return s, s.Listen
		})
	},
	firmware.Bitaxe: func(t *testing.T) *rig {
		return startSim(t, firmware.Bitaxe, sim.DefaultMinerConfig(), func(m *sim.Miner, _ *sim.ManualClock) (closer, func(string) (net.Addr, error)) {
			s := sim.NewBitaxe(m, zerolog.Nop())
			return s, s.Listen
		})
	},
	firmware.Whatsminer: func(t *testing.T) *rig {
		return startSim(t, firmware.Whatsminer, sim.DefaultMinerConfig(), func(m *sim.Miner, c *sim.ManualClock) (closer, func(string) (net.Addr, error)) {
			s := sim.NewWhatsminer(m, c, "", 0, zerolog.Nop())
			return s, s.Listen
		})
	},
	firmware.Braiins: func(t *testing.T) *rig {
		return startSim(t, firmware.Braiins, sim.DefaultMinerConfig(), func(m *sim.Miner, c *sim.ManualClock) (closer, func(string) (net.Addr, error)) {
			s := sim.NewBraiins(m, c, "", "", 0, zerolog.Nop())
			return s, s.Listen
		})
	},
	firmware.Antminer: func(t *testing.T) *rig {
		return startSim(t, firmware.Antminer, sim.DefaultMinerConfig(), func(m *sim.Miner, _ *sim.ManualClock) (closer, func(string) (net.Addr, error)) {
			s := sim.NewAntminer(m, "", "", "miner-mode", zerolog.Nop())
			return s, s.Listen
		})
	},
	firmware.VNish: func(t *testing.T) *rig {
		return startSim(t, firmware.VNish, sim.VNishMinerConfig(), func(m *sim.Miner, _ *sim.ManualClock) (closer, func(string) (net.Addr, error)) {
			s := sim.NewVNish(m, "", zerolog.Nop())
			return s, s.Listen
		})
	},
}

func forEachRig(t *testing.T, f func(t *testing.T, r *rig)) {
	for _, name := range firmware.Names() {
		start, ok := rigs[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) { f(t, start(t)) })
	}
}

func TestDriverSleepWake(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		st, err := r.drv.Status(ctx, r.target)
		if err != nil {
			t.Fatal(err)
		}
		// Stock Antminer CGI reports no power; the others must.
		reportsPower := st.Has(firmware.FieldPower)
		if st.State != firmware.StateRunning || reportsPower == (r.drv.Firmware() == firmware.Antminer) || (reportsPower && st.PowerW != 3500) {
			t.Fatalf("initial %+v", st)
		}
		if err := r.drv.Sleep(ctx, r.target); err != nil {
			t.Fatal(err)
		}
		if !r.miner.State().Sleeping {
			t.Fatal("simulated miner awake after confirmed Sleep")
		}
		r.clk.Advance(time.Minute)
		st, err = r.drv.Status(ctx, r.target)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != firmware.StateSleeping || (reportsPower && st.PowerW != 25) {
			t.Fatalf("asleep %+v", st)
		}
		if err := r.drv.Wake(ctx, r.target); err != nil {
			t.Fatal(err)
		}
		r.clk.Advance(time.Minute)
		if st, _ = r.drv.Status(ctx, r.target); st.State != firmware.StateRunning || (reportsPower && st.PowerW != 3500) {
			t.Fatalf("awake again %+v", st)
		}
	})
}

func TestDriverPowerTarget(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		caps, err := r.drv.Capabilities(ctx, r.target)
		if err != nil {
			t.Fatal(err)
		}
		err = r.drv.SetPowerTarget(ctx, r.target, 2500)
		if !caps.PowerTarget {
			if !errors.Is(err, firmware.ErrUnsupported) {
				t.Fatalf("no power target capability, SetPowerTarget = %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := r.miner.State().TargetW; got > 2500 || got < float64(caps.MinW) {
			t.Fatalf("miner target %v after SetPowerTarget(2500)", got)
		}
		r.clk.Advance(time.Minute)
		st, err := r.drv.Status(ctx, r.target)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Has(firmware.FieldPowerTarget) || st.PowerTargetW > 2500 || st.PowerW > 2500 {
			t.Fatalf("after target %+v", st)
		}
	})
}

func TestDriverDetectsIgnoredWrites(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		r.miner.SetFaults(sim.FaultIgnoreWrites)
		ctx := context.Background()
		if err := r.drv.Sleep(ctx, r.target); !errors.Is(err, firmware.ErrNotConfirmed) {
			t.Fatalf("sleep: want ErrNotConfirmed, got %v", err)
		}
		caps, _ := r.drv.Capabilities(ctx, r.target)
		if caps.PowerTarget {
			if err := r.drv.SetPowerTarget(ctx, r.target, caps.MinW); !errors.Is(err, firmware.ErrNotConfirmed) {
				t.Fatalf("power target: want ErrNotConfirmed, got %v", err)
			}
		}
	})
}

func TestDriverAuthRefused(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		r.miner.SetFaults(sim.FaultRejectAuth)
		if err := r.drv.Sleep(context.Background(), r.target); !errors.Is(err, firmware.ErrAuth) {
			t.Fatalf("want ErrAuth, got %v", err)
		}
		if r.miner.State().Sleeping {
			t.Fatal("miner slept without valid credentials")
		}
	})
}

func TestDriverTimeout(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		r.miner.SetFaults(sim.FaultStall)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := r.drv.Status(ctx, r.target); !errors.Is(err, firmware.ErrTimeout) {
			t.Fatalf("want ErrTimeout, got %v", err)
		}
	})
}

func TestDriverGarbageReply(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		r.miner.SetFaults(sim.FaultGarbage)
		ctx := context.Background()
		if _, err := r.drv.Status(ctx, r.target); !errors.Is(err, firmware.ErrProtocol) {
			t.Fatalf("status: want ErrProtocol, got %v", err)
		}
	})
}

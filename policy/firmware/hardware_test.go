package firmware_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

// hardwareReported is what each firmware's API reports about its hardware.
var hardwareReported = map[string]firmware.Field{
	firmware.LuxOS:      firmware.HardwareFields,
	firmware.Braiins:    firmware.HardwareFields,
	firmware.Antminer:   firmware.HardwareFields,
	firmware.Bitaxe:     firmware.FieldBoardTemp | firmware.FieldChipTemp | firmware.FieldFans | firmware.FieldUptime,
	firmware.Whatsminer: firmware.FieldBoardTemp | firmware.FieldChipTemp | firmware.FieldFans | firmware.FieldUptime,
	firmware.VNish:      firmware.FieldBoardTemp | firmware.FieldChipTemp | firmware.FieldFans | firmware.FieldBoards,
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestDriverHardware reads temperatures, fans, boards and uptime from every
// firmware's simulator, at full power and asleep, where the readings must
// follow the simulated draw: fans slow down, boards cool to ambient and
// stop hashing.
func TestDriverHardware(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		want := hardwareReported[r.drv.Firmware()]
		r.clk.Advance(90 * time.Second)
		st, err := r.drv.Status(ctx, r.target)
		if err != nil {
			t.Fatal(err)
		}
		if st.Known&firmware.HardwareFields != want {
			t.Fatalf("hardware fields %08b, want %08b: %+v", st.Known&firmware.HardwareFields, want, st)
		}
		// Full power: 25 °C ambient + 40 (board) / + 55 (chip).
		if want&firmware.FieldBoardTemp != 0 && !near(st.BoardTempC, 65, 0.5) {
			t.Fatalf("board %v °C at full power", st.BoardTempC)
		}
		if !near(st.ChipTempC, 80, 0.5) {
			t.Fatalf("chip %v °C at full power", st.ChipTempC)
		}
		fans := st.Fans()
		if len(fans) == 0 || fans[0] != 6000 {
			t.Fatalf("fans %v at full power", fans)
		}
		if want&firmware.FieldBoards != 0 && (st.BoardsWorking != 3 || st.BoardsTotal != 3) {
			t.Fatalf("boards %d/%d at full power", st.BoardsWorking, st.BoardsTotal)
		}
		if want&firmware.FieldUptime != 0 && !near(float64(st.UptimeS), 90, 1) {
			t.Fatalf("uptime %d s, want 90", st.UptimeS)
		}
		if jth, ok := st.JPerTH(); st.Has(firmware.FieldHashrate) && (!ok || !near(jth, 17.5, 0.1)) {
			t.Fatalf("J/TH %v %v, want 3500 W / 200 TH/s", jth, ok)
		}

		if err := r.drv.Sleep(ctx, r.target); err != nil {
			t.Fatal(err)
		}
		r.clk.Advance(time.Minute) // past the ramp and the hardware reading's age
		st, err = r.drv.Status(ctx, r.target)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != firmware.StateSleeping || !near(st.ChipTempC, 25.4, 0.6) {
			t.Fatalf("asleep %+v", st)
		}
		if fans = st.Fans(); len(fans) == 0 || fans[0] > 1100 {
			t.Fatalf("fans %v asleep, want idle", fans)
		}
		if want&firmware.FieldBoards != 0 && (st.BoardsWorking != 0 || st.BoardsTotal != 3) {
			t.Fatalf("boards %d/%d asleep", st.BoardsWorking, st.BoardsTotal)
		}
		if _, ok := st.JPerTH(); ok && st.HashrateTHs == 0 {
			t.Fatal("J/TH derived with no hashrate")
		}
	})
}

// TestDriverDeadBoard: a board that stops hashing shows as not working.
func TestDriverDeadBoard(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		if hardwareReported[r.drv.Firmware()]&firmware.FieldBoards == 0 {
			t.Skip("firmware reports no hashboards")
		}
		r.miner.SetDeadBoards(1)
		st, err := r.drv.Status(context.Background(), r.target)
		if err != nil {
			t.Fatal(err)
		}
		if st.BoardsWorking != 2 || st.BoardsTotal != 3 {
			t.Fatalf("boards %d/%d with one dead", st.BoardsWorking, st.BoardsTotal)
		}
	})
}

// locateUnsupported lists firmware whose API has no locate LED.
var locateUnsupported = map[string]bool{firmware.Bitaxe: true}

func TestDriverRebootAndLocate(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		err := r.drv.Locate(ctx, r.target, true)
		if locateUnsupported[r.drv.Firmware()] {
			if !errors.Is(err, firmware.ErrUnsupported) || r.miner.State().Locate {
				t.Fatalf("locate on firmware without LED: %v", err)
			}
		} else {
			if err != nil || !r.miner.State().Locate {
				t.Fatalf("locate on: %v, LED %v", err, r.miner.State().Locate)
			}
			// Asking again for the state it is in keeps it (VNish toggles).
			if err := r.drv.Locate(ctx, r.target, true); err != nil || !r.miner.State().Locate {
				t.Fatalf("locate on twice: %v, LED %v", err, r.miner.State().Locate)
			}
			if err := r.drv.Locate(ctx, r.target, false); err != nil || r.miner.State().Locate {
				t.Fatalf("locate off: %v, LED %v", err, r.miner.State().Locate)
			}
		}

		r.clk.Advance(10 * time.Minute)
		if err := r.drv.Reboot(ctx, r.target); err != nil {
			t.Fatal(err)
		}
		if n := r.miner.State().Reboots; n != 1 {
			t.Fatalf("%d reboots", n)
		}
		r.clk.Advance(20 * time.Second)
		st, err := r.drv.Status(ctx, r.target)
		if err != nil {
			t.Fatal(err)
		}
		if st.Has(firmware.FieldUptime) && st.UptimeS > 21 {
			t.Fatalf("uptime %d s after a reboot 20 s ago", st.UptimeS)
		}
	})
}

func TestDriverLocateIgnored(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		if locateUnsupported[r.drv.Firmware()] {
			t.Skip("no locate LED")
		}
		r.miner.SetFaults(sim.FaultIgnoreWrites)
		if err := r.drv.Locate(context.Background(), r.target, true); !errors.Is(err, firmware.ErrNotConfirmed) {
			t.Fatalf("want ErrNotConfirmed, got %v", err)
		}
	})
}

func TestDriverRebootAuthRefused(t *testing.T) {
	forEachRig(t, func(t *testing.T, r *rig) {
		r.miner.SetFaults(sim.FaultRejectAuth)
		if err := r.drv.Reboot(context.Background(), r.target); !errors.Is(err, firmware.ErrAuth) {
			t.Fatalf("want ErrAuth, got %v", err)
		}
		if r.miner.State().Reboots != 0 {
			t.Fatal("rebooted without valid credentials")
		}
	})
}

func TestStatusFanBounds(t *testing.T) {
	var st firmware.Status
	for i := range firmware.MaxFans + 3 {
		st.AddFan(float64(i*1000) - 500)
	}
	fans := st.Fans()
	if len(fans) != firmware.MaxFans || fans[0] != 0 || fans[1] != 500 || !st.Has(firmware.FieldFans) {
		t.Fatalf("fans %v", fans)
	}
	st.AddFan(1e9)
	st.SetBoards(9, 3)
	if st.BoardsWorking != 3 || st.BoardsTotal != 3 {
		t.Fatalf("boards %d/%d", st.BoardsWorking, st.BoardsTotal)
	}
}

package firmware_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

// A firmware that acknowledges "miner-mode" but honours only
// "bitmain-work-mode" is caught by the read-back and handled by the
// fallback key.
func TestAntminerFallsBackToOtherModeKey(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	m := newSimMiner(t, clk)
	srv := sim.NewAntminer(m, "root", "hunter2", "bitmain-work-mode", zerolog.Nop())
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	drv := newDriver(t, firmware.Antminer, testConfig(stepClock{clk}))
	tg := firmware.Target{Addr: addr.String(), Password: "hunter2"}
	if err := drv.Sleep(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
	if !m.State().Sleeping {
		t.Fatal("awake after confirmed sleep")
	}
	if err := drv.Wake(context.Background(), tg); err != nil || m.State().Sleeping {
		t.Fatalf("wake: %v", err)
	}
}

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

func TestBraiinsSessionExpiryAndOutOfRange(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	m := newSimMiner(t, clk)
	srv := sim.NewBraiins(m, clk, "root", "pw", time.Hour, zerolog.Nop())
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	drv := newDriver(t, firmware.Braiins, testConfig(stepClock{clk}))
	tg := firmware.Target{Addr: addr.String(), Password: "pw"}
	ctx := context.Background()
	if err := drv.Sleep(ctx, tg); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour) // token idle past timeout_s
	if err := drv.Wake(ctx, tg); err != nil {
		t.Fatalf("wake after token expiry: %v", err)
	}
	if err := drv.SetPowerTarget(ctx, tg, 9000); !errors.Is(err, firmware.ErrOutOfRange) {
		t.Fatalf("9 kW target: %v", err)
	}
	if err := drv.SetPowerTarget(ctx, tg, 2222); err != nil {
		t.Fatal(err)
	}
	if got := m.State().TargetW; got != 2222 {
		t.Fatalf("miner target %v", got)
	}
	bad := newDriver(t, firmware.Braiins, testConfig(stepClock{clk}))
	if _, err := bad.Status(ctx, firmware.Target{Addr: addr.String(), Password: "wrong"}); !errors.Is(err, firmware.ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}
}

package firmware_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

func TestVNishTokenExpiryRecovers(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	m, err := sim.NewMiner(sim.VNishMinerConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	srv := sim.NewVNish(m, "s3cret", zerolog.Nop())
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	drv := newDriver(t, firmware.VNish, testConfig(stepClock{clk}))
	tg := firmware.Target{Addr: addr.String(), Password: "s3cret"}
	ctx := context.Background()
	if err := drv.Sleep(ctx, tg); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if err := drv.Wake(ctx, tg); err != nil {
		t.Fatalf("wake after token loss: %v", err)
	}
	if m.State().Sleeping {
		t.Fatal("still asleep")
	}
}

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

func TestWhatsminerTokenExpiryAndWrongPassword(t *testing.T) {
	clk := sim.NewManualClock(epoch)
	m := newSimMiner(t, clk)
	srv := sim.NewWhatsminer(m, clk, "n3wpass", 0, zerolog.Nop())
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	drv := newDriver(t, firmware.Whatsminer, testConfig(stepClock{clk}))
	ctx := context.Background()
	good := firmware.Target{Addr: addr.String(), Password: "n3wpass"}
	if err := drv.Sleep(ctx, good); err != nil {
		t.Fatal(err)
	}
	// The miner forgets its tokens before our TTL: one 135, one renewal.
	srv.ExpireTokens()
	if err := drv.Wake(ctx, good); err != nil {
		t.Fatalf("wake after token loss: %v", err)
	}
	// Past the driver's TTL a new token is fetched without a refusal.
	clk.Advance(31 * time.Minute)
	if err := drv.Sleep(ctx, good); err != nil {
		t.Fatalf("sleep after token lifetime: %v", err)
	}
	other := newDriver(t, firmware.Whatsminer, testConfig(stepClock{clk}))
	if err := other.Wake(ctx, firmware.Target{Addr: addr.String(), Password: "admin"}); !errors.Is(err, firmware.ErrAuth) {
		t.Fatalf("wrong password: want ErrAuth, got %v", err)
	}
	if !m.State().Sleeping {
		t.Fatal("wrong password woke the miner")
	}
}

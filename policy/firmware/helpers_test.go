package firmware_test

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

// stepClock shares simulated time between a driver and a simulator: a
// driver's wait advances the simulator's clock instead of sleeping.
type stepClock struct{ *sim.ManualClock }

func (c stepClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

var epoch = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testConfig returns a driver config on clk with quick I/O limits.
func testConfig(clk firmware.Clock) *firmware.Config {
	cfg := firmware.DefaultConfig()
	cfg.Clock = clk
	cfg.DialTimeout = 2 * time.Second
	cfg.IOTimeout = 5 * time.Second
	cfg.ConfirmAttempts = 3
	cfg.ConfirmInterval = time.Second
	return cfg
}

func newSimMiner(t testing.TB, clk sim.Clock) *sim.Miner {
	t.Helper()
	m, err := sim.NewMiner(sim.DefaultMinerConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newDriver(t testing.TB, name string, cfg *firmware.Config) firmware.Driver {
	t.Helper()
	d, err := firmware.New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

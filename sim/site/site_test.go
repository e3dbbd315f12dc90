package site

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy/meter"
	simfw "github.com/hashgate/hashgate/sim/firmware"
)

// readKW reads one power value from a simulated meter through hashgate's own Modbus meter
// client, as the policy engine reads it. The client polls once at start; the site's clock is
// manual, so the registers do not move while the three meters are read.
func readKW(t *testing.T, name, addr string, m meter.MapName) float64 {
	t.Helper()
	src, err := meter.New(meter.Config{Name: name, Role: meter.RoleSiteImport, Source: meter.KindModbus, Address: addr, Map: m}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan meter.Reading, 1)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	r := <-out
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("%s meter: %s %v", name, r.Quality, r.Err)
	}
	return r.Value
}

// metered is one reading of the site's three meters, in kW.
type metered struct{ grid, ai, mining float64 }

func readMeters(t *testing.T, s *Site) metered {
	t.Helper()
	return metered{
		grid:   readKW(t, "grid", s.GridMeter(), meter.MapSunSpec),
		ai:     readKW(t, "ai-hall", s.AIMeter(), meter.MapJanitza),
		mining: readKW(t, "mining-feeder", s.FeederMeter(), meter.MapSDM630),
	}
}

// The grid meter's SunSpec W register is an int16 with a scale factor: at these loads it
// resolves 10 W. The float maps are exact to well below that.
const tolKW = 0.006

func near(a, b float64) bool { return math.Abs(a-b) <= tolKW }

func testSite(t *testing.T) (*Site, *simfw.ManualClock) {
	t.Helper()
	clk := simfw.NewManualClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	lux := simfw.DefaultMinerConfig() // 3.5 kW
	bos := simfw.DefaultMinerConfig()
	bos.NominalW, bos.NominalTHs, bos.MinW, bos.MaxW, bos.Profiles = 3000, 140, 1500, 3200, nil
	s, err := Start(Config{
		Miners:   []MinerSpec{{Worker: "rack1.a", Firmware: "luxos", Model: lux}, {Worker: "rack2.b", Firmware: "braiins", Model: bos}},
		AIBaseKW: 50, AISpikeKW: 85, SpikeEvery: 90 * time.Second, SpikeFor: 35 * time.Second,
		UnmeteredKW: 5, UnmeteredStepKW: 4, UnmeteredStepEvery: 150 * time.Second, UnmeteredStepFor: 40 * time.Second,
		Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, clk
}

// TestMetersFollowThePhysics reads the real registers of the three meters at moments chosen
// on the site's clock: the grid meter reads AI + unmetered + mining, the AI meter the AI hall
// alone (not the unmetered step, not the miners), the feeder the miners alone.
func TestMetersFollowThePhysics(t *testing.T) {
	s, clk := testSite(t)
	check := func(when string, wantAI, wantUnmetered, wantMining float64) metered {
		t.Helper()
		s.Refresh()
		m := readMeters(t, s)
		if !near(m.ai, wantAI) || !near(m.mining, wantMining) || !near(m.grid, wantAI+wantUnmetered+wantMining) {
			t.Fatalf("%s: meters read grid %.3f ai %.3f mining %.3f; want grid %.3f = ai %.3f + unmetered %.3f + mining %.3f",
				when, m.grid, m.ai, m.mining, wantAI+wantUnmetered+wantMining, wantAI, wantUnmetered, wantMining)
		}
		if l := s.Loads(); !near(l.ImportKW, m.grid) || !near(l.AIKW, m.ai) || !near(l.MiningKW, m.mining) || l.UnmeteredKW != wantUnmetered {
			t.Fatalf("%s: Loads %+v disagree with the meters %+v", when, l, m)
		}
		return m
	}

	quiet := check("at start", 50, 5, 6.5)

	// 120 s: the AI hall is quiet (its burst is 55..90 s of each 90 s), the chiller stage is on
	// (110..150 s of each 150 s). Only the grid meter sees it.
	clk.Advance(120 * time.Second)
	step := check("unmetered step", 50, 9, 6.5)
	if step.ai != quiet.ai || !near(step.grid-quiet.grid, 4) {
		t.Fatalf("the unmetered step moved the AI meter (%.3f -> %.3f) or not the grid by 4 kW (%.3f -> %.3f)", quiet.ai, step.ai, quiet.grid, step.grid)
	}

	// 160 s: the step is over (160 % 150 = 10 s) and the AI hall is mid-burst (160 % 90 = 70 s).
	clk.Advance(40 * time.Second)
	since := clk.Now().Sub(s.start)
	if since%(90*time.Second) != 70*time.Second {
		t.Fatalf("test clock at %v, want a burst phase of 70 s", since)
	}
	ai := s.AILoad(since)
	if ai < 85*0.98 || ai > 85*1.02 {
		t.Fatalf("AI load %.2f kW mid-burst, want 85 kW ± 2%% ripple", ai)
	}
	check("AI burst", ai, 5, 6.5)

	// A miner's firmware puts it to sleep: the feeder and the grid follow once it has ramped
	// down; the AI meter does not move.
	s.miners["rack1.a"].Sleep()
	clk.Advance(simfw.DefaultMinerConfig().RampDown)
	since = clk.Now().Sub(s.start)
	if since%(90*time.Second) != 75*time.Second {
		t.Fatalf("test clock at %v, want a burst phase of 75 s", since)
	}
	check("a miner asleep", s.AILoad(since), 5, 3.0+0.025)
}

// TestUnmeteredLoadSchedule: the unmetered load is a pure function of time since start.
func TestUnmeteredLoadSchedule(t *testing.T) {
	s := &Site{cfg: Config{UnmeteredKW: 5, UnmeteredStepKW: 4, UnmeteredStepEvery: 150 * time.Second, UnmeteredStepFor: 40 * time.Second}}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{0, 5}, {109 * time.Second, 5}, {110 * time.Second, 9}, {149 * time.Second, 9}, {150 * time.Second, 5}, {265 * time.Second, 9}, {300 * time.Second, 5}} {
		if got := s.UnmeteredLoad(tc.at); got != tc.want {
			t.Errorf("at %v: %v kW, want %v", tc.at, got, tc.want)
		}
	}
	flat := &Site{cfg: Config{UnmeteredKW: 7, UnmeteredStepKW: 4}}
	if got := flat.UnmeteredLoad(time.Hour); got != 7 {
		t.Errorf("without steps: %v kW, want 7", got)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{UnmeteredKW: -1},
		{UnmeteredKW: 2, UnmeteredStepKW: -3},
		{UnmeteredStepEvery: time.Minute, UnmeteredStepFor: 2 * time.Minute},
		{UnmeteredStepFor: time.Second},
		{SpikeEvery: time.Minute, SpikeFor: 2 * time.Minute},
		{AIBaseKW: -5},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
		if _, err := Start(c); err == nil {
			t.Errorf("Start took %+v", c)
		}
	}
	ok := Config{AIBaseKW: 50, AISpikeKW: 85, SpikeEvery: 90 * time.Second, SpikeFor: 35 * time.Second,
		UnmeteredKW: 5, UnmeteredStepKW: -2, UnmeteredStepEvery: time.Minute, UnmeteredStepFor: 10 * time.Second}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid site refused: %v", err)
	}
}

package firmware

import (
	"testing"
	"time"
)

func TestMinerRampsLinearly(t *testing.T) {
	clk := NewManualClock(time.Unix(0, 0))
	m, err := NewMiner(DefaultMinerConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	m.Sleep() // 3500 → 25 W over 5 s
	clk.Advance(2500 * time.Millisecond)
	if p := m.State().PowerW; p != (3500+25)/2.0 {
		t.Fatalf("half-way down: %v W", p)
	}
	m.Wake() // from the mid-ramp level back up to 3500 W over 10 s
	clk.Advance(5 * time.Second)
	if p := m.State().PowerW; p != (1762.5+3500)/2 {
		t.Fatalf("half-way back up: %v W", p)
	}
	clk.Advance(time.Hour)
	if s := m.State(); s.PowerW != 3500 || s.HashrateTHs != 200 || s.Sleeping {
		t.Fatalf("settled: %+v", s)
	}
	if got := m.SetTarget(99999); got != 4000 {
		t.Fatalf("target clamped to %v", got)
	}
	m.SetFaults(FaultIgnoreWrites)
	m.Sleep()
	if m.State().Sleeping {
		t.Fatal("FaultIgnoreWrites did not ignore Sleep")
	}
}

func TestMinerConfigValidate(t *testing.T) {
	c := DefaultMinerConfig()
	c.SleepW = c.NominalW
	if _, err := NewMiner(c, nil); err == nil {
		t.Fatal("sleep draw equal to nominal accepted")
	}
}

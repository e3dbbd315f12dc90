package console

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestMinerPowerSaysWhereItComesFrom: a fresh measurement is "measured", anything else is the
// command's power, "commanded".
func TestMinerPowerSaysWhereItComesFrom(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	m := policy.Miner{RatedKW: 3.5, Commanded: policy.Command{Action: policy.ActionThrottle, TargetKW: 2}}
	if kw, src := minerPower(&m, now); kw != 2 || src != "commanded" {
		t.Fatalf("no telemetry: %v %s", kw, src)
	}
	m.MeasuredKW, m.MeasuredAt = 2.2, now.Add(-10*time.Second)
	if kw, src := minerPower(&m, now); kw != 2.2 || src != "measured" {
		t.Fatalf("fresh telemetry: %v %s", kw, src)
	}
	if kw, src := minerPower(&m, now.Add(time.Hour)); kw != 2 || src != "commanded" {
		t.Fatalf("stale telemetry: %v %s", kw, src)
	}
}

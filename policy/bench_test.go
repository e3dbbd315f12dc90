package policy_test

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

func benchStep(b *testing.B, aiKW float64) {
	cfg := simConfig()
	cfg.ImportLimitKW, cfg.MaxJumpKW, cfg.SafeFloorKW = 40000, 40000, 1000
	eng, err := policy.NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	fleet := testFleet(b, 10000) // ≈ 32 MW
	for i := range fleet {
		fleet[i].Commanded = policy.Command{Action: policy.ActionRun, Since: epoch.Add(-time.Hour)}
	}
	var mining float64
	for _, m := range fleet {
		mining += m.RatedKW
	}
	now := epoch
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Second)
		var rd policy.Readings
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: aiKW + mining, At: now})
		rd.Set(policy.Reading{Role: policy.RoleAILoad, Value: aiKW, At: now})
		rd.Set(policy.Reading{Role: policy.RoleMiningLoad, Value: mining, At: now})
		out := eng.Step(policy.Input{Now: now, Readings: rd, Fleet: fleet})
		if aiKW > 20000 && len(out.Decisions) == 0 {
			b.Fatal("expected a shed")
		}
	}
}

// BenchmarkStep10kSteady: 10,000 miners, budget covers the fleet, nothing to change.
func BenchmarkStep10kSteady(b *testing.B) { benchStep(b, 5000) }

// BenchmarkStep10kShed: 10,000 miners at full power when a spike takes half of them
// (about 5,000 decisions every step; the fleet is not updated so every step sheds).
func BenchmarkStep10kShed(b *testing.B) { benchStep(b, 24000) }

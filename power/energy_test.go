package power

import (
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

func TestEnergyLedgerIntegratesPerInterval(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	e := newEnergyLedger(time.Minute, t0)
	var got []float64
	// 60 kW import read every second for 2.5 minutes, 20 kW mining every 2 s.
	for s := 0; s <= 150; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		for _, iv := range e.observe(policy.Reading{Role: policy.RoleSiteImport, Value: 60, At: at}) {
			got = append(got, iv.ImportKWh, iv.MiningKWh)
		}
		if s%2 == 0 {
			e.observe(policy.Reading{Role: policy.RoleMiningLoad, Value: 20, At: at})
		}
	}
	// Two whole minutes: 60 kW for 1/60 h = 1 kWh import, 1/3 kWh mining.
	if len(got) != 4 {
		t.Fatalf("intervals %v", got)
	}
	for i := 0; i < 4; i += 2 {
		if math.Abs(got[i]-1) > 1e-9 || math.Abs(got[i+1]-1.0/3) > 1e-9 {
			t.Fatalf("interval %d: import %v kWh, mining %v kWh", i/2, got[i], got[i+1])
		}
	}
	// A meter silent for longer than maxHold contributes nothing for the gap.
	e2 := newEnergyLedger(time.Hour, t0)
	e2.observe(policy.Reading{Role: policy.RoleAILoad, Value: 100, At: t0})
	e2.observe(policy.Reading{Role: policy.RoleAILoad, Value: 100, At: t0.Add(10 * time.Minute)})
	out := e2.advance(t0.Add(time.Hour))
	if len(out) != 1 || out[0].AIKWh > 100*maxHold.Hours()+1e-9 {
		t.Fatalf("gap integrated: %+v", out)
	}
	// NaN (a faulty meter) is ignored.
	if e2.observe(policy.Reading{Role: policy.RoleAILoad, Value: math.NaN(), At: t0.Add(2 * time.Hour)}) != nil {
		t.Fatal("NaN reading closed intervals")
	}
}

package policy_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/internal/trace"
)

// FuzzTraceDecode: whatever decodes re-encodes to something that decodes equal.
func FuzzTraceDecode(f *testing.F) {
	for _, name := range traceNames {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "policy", name+".jsonl"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 2000)]) // the meta line and the first samples
	}
	f.Add([]byte("{\"meta\":{}}\n{\"t\":1,\"role\":\"price\",\"value\":-3}\n"))
	f.Add([]byte("{\"meta\":{}}\n{\"t\":1,\"role\":\"bogus\",\"value\":1}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := trace.Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := trace.Encode(&buf, tr); err != nil {
			t.Fatal(err)
		}
		again, err := trace.Decode(&buf)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, buf.Bytes())
		}
		if !reflect.DeepEqual(tr, again) {
			t.Fatalf("round trip differs:\n%+v\n%+v", tr, again)
		}
	})
}

// FuzzEngineInput drives the engine with arbitrary readings and miner data, NaN and Inf
// included: it must not panic, must never command more than the budget once it sheds, and
// must stay at or under the safe floor while a safety meter is faulty.
func FuzzEngineInput(f *testing.F) {
	f.Add(100.0, 40.0, 60.0, 60.0, 3.5, 20.0, 2.0, int64(1), uint8(0))
	f.Add(math.NaN(), math.Inf(1), -1.0, 0.0, math.NaN(), -5.0, math.Inf(-1), int64(-9), uint8(7))
	f.Add(1e308, -1e308, 59.0, 1e9, 1e-300, 1e300, 0.0, int64(1<<40), uint8(255))
	f.Fuzz(func(t *testing.T, imp, mining, ai, hz, rated, eff, target float64, dt int64, act uint8) {
		cfg := simConfig()
		eng, err := policy.NewEngine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		fleet := testFleet(t, 20)
		for i := range fleet {
			if i%3 == 0 {
				fleet[i].RatedKW, fleet[i].EfficiencyJTH = rated, eff
			}
			fleet[i].Commanded = policy.Command{Action: policy.Action(act % 5), TargetKW: target, Since: epoch.Add(time.Duration(dt))}
			fleet[i].MeasuredKW, fleet[i].MeasuredAt = target, epoch.Add(time.Duration(dt))
		}
		now := epoch
		for k := range 3 {
			var rd policy.Readings
			rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: imp, At: now})
			rd.Set(policy.Reading{Role: policy.RoleMiningLoad, Value: mining, At: now})
			rd.Set(policy.Reading{Role: policy.RoleAILoad, Value: ai, At: now.Add(time.Duration(dt))})
			rd.Set(policy.Reading{Role: policy.RoleFrequency, Value: hz, At: now})
			man := policy.Manual{CapKW: target, CapUntil: now.Add(time.Duration(dt)),
				DR: []policy.DREvent{{Start: now, End: now.Add(time.Hour), TargetKW: imp}}}
			out := eng.Step(policy.Input{Now: now, Readings: rd, Fleet: fleet, Manual: man})
			b := out.Basis
			for _, v := range []float64{b.BudgetKW, b.CommittedKW, b.NonMiningKW, b.LimitKW, b.MiningEstKW, b.InFlightKW, b.UnconfirmedKW} {
				if math.IsNaN(v) {
					t.Fatalf("step %d: NaN in basis %+v", k, b)
				}
			}
			if b.BudgetKW < 0 {
				t.Fatalf("negative budget %+v", b)
			}
			if b.Mode == policy.ModeSafeFloor && b.BudgetKW > cfg.SafeFloorKW {
				t.Fatalf("safe floor budget %+v", b)
			}
			for _, d := range out.Decisions {
				if math.IsNaN(d.TargetKW) || d.TargetKW < 0 {
					t.Fatalf("bad decision %v", d)
				}
				for i := range fleet {
					if fleet[i].ID == d.MinerID {
						if d.Action != fleet[i].Commanded.Action {
							fleet[i].Commanded.Since = now
						}
						fleet[i].Commanded.Action, fleet[i].Commanded.TargetKW = d.Action, d.TargetKW
					}
				}
			}
			now = now.Add(time.Second)
		}
	})
}

// TestTracesRegenerate: the committed traces are exactly what the generator writes.
func TestTracesRegenerate(t *testing.T) {
	for _, tr := range trace.Generate() {
		var buf bytes.Buffer
		if err := trace.Encode(&buf, tr); err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "testdata", "policy", tr.Meta.Name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s.jsonl differs from the generator's output; run go run ./policy/internal/tracegen", tr.Meta.Name)
		}
	}
}

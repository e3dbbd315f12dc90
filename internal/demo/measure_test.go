package demo

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/sim/site"
)

// TestAnalyze judges a hand-made trace: a start-up, a burst the fleet is shed for (one second
// above the limit before it is), a restore, and a burst still on when the run ends.
func TestAnalyze(t *testing.T) {
	s := SiteLimits{LimitKW: 100, MarginKW: 3, FleetKW: 39, MinerKW: 3.5, AIBaseKW: 45}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var samples []Sample
	for i, x := range []struct{ ai, mining float64 }{
		{45, 0}, {45, 20}, {45, 39}, // start-up: within one miner of the 39 kW spare at 2 s
		{85, 39}, {85, 10}, {85, 5}, {85, 7}, // burst 1 from 3 s: 8 kW spare, 128 kW import at 3 s
		{45, 7}, {45, 20}, {45, 36}, // ended at 7 s; 36 ≥ 39 - 3.5 at 9 s
		{60, 36}, // burst 2 from 10 s, still on: 33 kW spare
	} {
		l := site.Loads{AIKW: x.ai, UnmeteredKW: 4, MiningKW: x.mining}
		l.ImportKW = l.AIKW + l.UnmeteredKW + l.MiningKW
		samples = append(samples, Sample{At: t0.Add(time.Duration(i) * time.Second), Loads: l})
	}
	r := Analyze(s, samples, time.Second)
	const spare, used = 3*39 + 4*8 + 3*39 + 33, (0 + 20 + 39) + (8 + 8 + 5 + 7) + (7 + 20 + 36) + 33
	if r.Samples != 11 || r.Seconds != 11 || r.AboveLimitS != 1 || r.MaxImportKW != 128 || r.StartupS != 2 {
		t.Errorf("report %+v", r)
	}
	if math.Abs(r.SpareKWh-spare/3600.) > 1e-9 || math.Abs(r.UsedKWh-used/3600.) > 1e-9 || math.Abs(r.SpareUsedPct()-100.*used/spare) > 1e-9 {
		t.Errorf("spare %.4f kWh used %.4f kWh (%.2f %%), want %.4f and %.4f", r.SpareKWh, r.UsedKWh, r.SpareUsedPct(), spare/3600., used/3600.)
	}
	want := []Burst{
		{StartS: 3, EndS: 7, LowestMiningKW: 5, SpareAtLowestKW: 8, AboveLimitS: 1, RestoreS: 2},
		{StartS: 10, EndS: -1, LowestMiningKW: 36, SpareAtLowestKW: 33, RestoreS: -1},
	}
	if len(r.Bursts) != len(want) {
		t.Fatalf("bursts %+v", r.Bursts)
	}
	for i := range want {
		if r.Bursts[i] != want[i] {
			t.Errorf("burst %d: %+v, want %+v", i+1, r.Bursts[i], want[i])
		}
	}
	var b strings.Builder
	r.WriteTo(&b)
	for _, line := range []string{
		"above the import limit:  1 s (highest import 128.0 kW)",
		"spare energy used:       61.2 %",
		"start-up:                mining within one miner of the spare after 2 s",
		"burst 1 (3 s to 7 s): 1 s above the limit; lowest mining 5.0 kW where 8.0 kW was spare; mining within one miner of the spare 2 s after it ended",
		"burst 2 (10 s to the end of the run): 0 s above the limit; lowest mining 36.0 kW where 33.0 kW was spare; not restored before the next burst or the end of the run",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, b.String())
		}
	}
}

// TestDemoMeasuresItself runs the demo with one short AI burst and measures it: the report is
// judged against the embedded demo.toml's limit and margin and the fleet the demo runs, sees
// the burst, and mining fell during it. Nothing asserts how fast the policy reacts.
func TestDemoMeasuresItself(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo")
	}
	d, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", Console: "127.0.0.1:0", Miners: 6, Dir: t.TempDir(),
		SpikeEvery: 40 * time.Second, SpikeFor: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pc, _, err := siteConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second) // the burst is 25-40 s in
	defer cancel()
	r, err := d.Measure(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteTo(&b)
	t.Logf("\n%s", b.String())
	if s := r.Site; s.LimitKW != pc.ImportLimitKW || s.MarginKW != pc.MarginKW || s.FleetKW != 3*3.5+3*3.0 || s.MinerKW != 3.5 || s.AIBaseKW != 45 {
		t.Fatalf("measured against %+v", s)
	}
	if r.Samples < 10 || len(r.Bursts) != 1 || r.Bursts[0].EndS < 0 {
		t.Fatalf("%d samples, bursts %+v: want the one burst, ended", r.Samples, r.Bursts)
	}
	if r.StartupS < 0 || r.Bursts[0].LowestMiningKW >= r.Site.FleetKW-r.Site.MinerKW {
		t.Fatalf("the fleet never ran, or was not shed for the burst: start-up %v s, lowest mining %.1f kW", r.StartupS, r.Bursts[0].LowestMiningKW)
	}
	if p := r.SpareUsedPct(); p <= 0 || p > 100 {
		t.Fatalf("spare energy used %.1f %%", p)
	}
}

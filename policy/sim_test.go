package policy_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/internal/trace"
)

// testFleetGroups is the simulated site: 200 miners, about 647 kW.
func testFleetGroups() []policy.FleetGroup {
	return []policy.FleetGroup{
		{Name: "s21", Pattern: "s21.*", Firmware: policy.FirmwareBraiins, RatedKW: 3.5, EfficiencyJTH: 17.5, Priority: 2, MinKW: 1.5},
		{Name: "m50", Pattern: "m50.*", Firmware: policy.FirmwareBraiins, RatedKW: 3.3, EfficiencyJTH: 26, Priority: 2, MinKW: 1.8},
		{Name: "s19", Pattern: "s19.*", Firmware: policy.FirmwareAntminer, RatedKW: 3.25, EfficiencyJTH: 29.5, Priority: 1},
		{Name: "bitaxe", Pattern: "10.9.0.0/24", Firmware: policy.FirmwareBitaxe, RatedKW: 0.015, EfficiencyJTH: 20, Priority: 0},
	}
}

// testFleet builds n miners per group in the proportions 110/30/50/10 (for n=200).
func testFleet(tb testing.TB, n int) []policy.Miner {
	tb.Helper()
	groups := testFleetGroups()
	if err := policy.ValidateFleet(groups); err != nil {
		tb.Fatal(err)
	}
	counts := []int{n * 110 / 200, n * 30 / 200, n * 50 / 200}
	counts = append(counts, n-counts[0]-counts[1]-counts[2])
	var fleet []policy.Miner
	for gi, c := range counts {
		g := &groups[gi]
		for k := range c {
			worker := fmt.Sprintf("%s.r%02d.m%04d", g.Name, k/40, k)
			ip := netipFor(gi, k)
			mg, ok := policy.MatchGroup(groups, worker, ip)
			if !ok || mg.Name != g.Name {
				tb.Fatalf("worker %s ip %s matched %v", worker, ip, mg)
			}
			m := mg.NewMiner(fmt.Sprintf("%s-%04d", g.Name, k), worker)
			m.Proven = true
			fleet = append(fleet, m)
		}
	}
	return fleet
}

// simConfig is the policy for the simulated site.
func simConfig() policy.Config {
	c := policy.DefaultConfig()
	c.ImportLimitKW = 1500
	c.MarginKW = 60
	c.SafeFloorKW = 200
	c.StaleAfter = policy.Duration(5 * time.Second)
	c.MinRun = policy.Duration(2 * time.Minute)
	c.MinPause = policy.Duration(time.Minute)
	c.RestoreStepKW = 50
	c.RestoreInterval = policy.Duration(15 * time.Second)
	c.HysteresisKW = 10
	c.ConfirmAfter = policy.Duration(15 * time.Second)
	c.MaxJumpKW = 1000
	c.UnderFrequencyHz = 59.7
	c.UnderFrequencyHold = policy.Duration(5 * time.Minute)
	c.DRLead = policy.Duration(10 * time.Second)
	return c
}

// meterSet says which meters the simulated site has.
type meterSet string

const (
	metersSubmeter meterSet = "submeter" // site import, AI load and a mining sub-meter
	metersAI       meterSet = "ai"       // site import and AI load
	metersImport   meterSet = "import"   // site import only
)

var epoch = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return epoch.Add(time.Duration(s * float64(time.Second))) }

// plantMiner is one miner's physical draw: a commanded change arrives after the firmware delay.
type plantMiner struct {
	actual, target float64
	due            float64
	deaf           bool // acknowledges commands, changes nothing
}

// transition is one commanded change of a miner, for the dwell-time checks.
type transition struct {
	t      float64
	action policy.Action
	reason policy.Reason
}

// simResult is what one replay measured.
type simResult struct {
	Variant         meterSet       `json:"variant"`
	Steps           int            `json:"steps"`
	Decisions       map[string]int `json:"decisions_by_reason"`
	Toggles         int            `json:"toggles"`
	ExcursionS      int            `json:"excursion_s"`
	LongestExcurS   int            `json:"longest_excursion_s"`
	AllowedExcurS   int            `json:"allowed_excursion_s"`
	IdealKWh        float64        `json:"ideal_mining_kwh"`
	MinedKWh        float64        `json:"mined_kwh"`
	UnusedKWh       float64        `json:"unused_kwh"`
	UnusedPct       float64        `json:"unused_pct"`
	ModeSeconds     map[string]int `json:"mode_seconds"`
	MaxImportKW     float64        `json:"max_import_kw"`
	imports, mining []float64
	ai              []float64
	modes           []policy.Mode
	history         map[string][]transition
}

// replay runs tr through the engine against the plant, one step per second.
func replay(tb testing.TB, tr *trace.Trace, ms meterSet, cfg policy.Config) *simResult {
	tb.Helper()
	eng, err := policy.NewEngine(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	fleet := testFleet(tb, 200)
	for i := range fleet { // the operator configured each group's ramp to the firmware's
		fleet[i].Ramp = time.Duration(max(tr.Meta.ShedDelayS, tr.Meta.RestoreDelayS)*float64(time.Second)) + time.Second
	}
	plant := make([]plantMiner, len(fleet))
	deaf := tr.Meta.Unresponsive
	for i := range fleet {
		plant[i] = plantMiner{actual: fleet[i].RatedKW, target: fleet[i].RatedKW}
		if fleet[i].Group == "s19" && deaf > 0 {
			plant[i].deaf = true
			deaf--
		}
	}
	var manual policy.Manual
	for i, d := range tr.Meta.DR {
		manual.DR = append(manual.DR, policy.DREvent{ID: fmt.Sprint("dr", i), Start: at(d.FromS), End: at(d.ToS), TargetKW: d.TargetKW})
	}
	res := &simResult{Variant: ms, Decisions: map[string]int{}, ModeSeconds: map[string]int{}, history: map[string][]transition{}}
	var rd policy.Readings
	truth := map[policy.Role]float64{}
	next := 0
	for s := 0; s < int(tr.Meta.DurationS); s++ {
		t := float64(s)
		for ; next < len(tr.Samples) && tr.Samples[next].T <= t; next++ {
			truth[tr.Samples[next].Role] = tr.Samples[next].Value
		}
		var mining float64
		for i := range plant {
			p := &plant[i]
			if t >= p.due {
				p.actual = p.target
			}
			mining += p.actual
		}
		truth[policy.RoleSiteImport] = truth[policy.RoleAILoad] + mining
		truth[policy.RoleMiningLoad] = mining
		res.imports = append(res.imports, truth[policy.RoleSiteImport])
		res.mining = append(res.mining, mining)
		res.ai = append(res.ai, truth[policy.RoleAILoad])
		for _, role := range policy.Roles() {
			v, ok := truth[role]
			switch {
			case !ok, role == policy.RoleAILoad && ms == metersImport,
				role == policy.RoleMiningLoad && ms != metersSubmeter:
				continue
			}
			dropped := false
			for _, f := range tr.Meta.Faults {
				if f.Role == role && f.Contains(t) {
					dropped = f.Kind == "dropout"
					v = f.Value
				}
			}
			if !dropped {
				rd.Set(policy.Reading{Role: role, Value: v, At: at(t)})
			}
		}
		out := eng.Step(policy.Input{Now: at(t), Readings: rd, Fleet: fleet, Manual: manual})
		res.Steps++
		res.modes = append(res.modes, out.Basis.Mode)
		res.ModeSeconds[out.Basis.Mode.String()]++
		idx := indexByID(fleet)
		for _, d := range out.Decisions {
			i := idx[d.MinerID]
			m := &fleet[i]
			if d.Action != m.Commanded.Action {
				res.history[d.MinerID] = append(res.history[d.MinerID], transition{t: t, action: d.Action, reason: d.Reason})
				if m.Commanded.Action != policy.ActionUnknown {
					res.Toggles++
				}
			}
			applyDecisions(&cfg, fleet[i:i+1], []policy.Decision{d}, at(t))
			res.Decisions[d.Reason.String()]++
			if !plant[i].deaf {
				delay := tr.Meta.RestoreDelayS
				if d.TargetKW < plant[i].target {
					delay = tr.Meta.ShedDelayS
				}
				plant[i].target, plant[i].due = d.TargetKW, t+delay
			}
		}
	}
	return res
}

func indexByID(fleet []policy.Miner) map[string]int {
	m := make(map[string]int, len(fleet))
	for i := range fleet {
		m[fleet[i].ID] = i
	}
	return m
}

func loadTrace(tb testing.TB, name string) *trace.Trace {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "policy", name+".jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	tr, err := trace.Decode(f)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

func r3(v float64) float64 { return math.Round(v*1000) / 1000 }

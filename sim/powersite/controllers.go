package powersite

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// Engine is hashgate's policy engine as a Controller.
type Engine struct {
	cfg policy.Config
	e   *policy.Engine
}

// NewEngine returns hashgate's engine for cfg.
func NewEngine(cfg policy.Config) (*Engine, error) {
	e, err := policy.NewEngine(cfg)
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, e: e}, nil
}

// Name implements Controller.
func (c *Engine) Name() string { return "hashgate" }

// Step implements Controller.
func (c *Engine) Step(now time.Time, rd policy.Readings, fleet []policy.Miner) []policy.Decision {
	return c.e.Step(policy.Input{Now: now, Readings: rd, Fleet: fleet}).Decisions
}

// Restart implements Controller.
func (c *Engine) Restart() { c.e, _ = policy.NewEngine(c.cfg) }

// Baseline is the simple controller most curtailment tools ship: it watches the site meter
// alone, sheds the least efficient miners until the measured excess is covered, then waits
// confirm_after for the meter to show it before shedding again, and restores the most
// efficient paused miners in batches of restore_step_kw every restore_interval once the meter
// shows room for a batch plus the hysteresis band. A stale or unusable site meter sheds to
// safe_floor_kw. It honours min_pause for restores and knows nothing of priorities,
// telemetry, commands in flight or whether a session is a real miner.
type Baseline struct {
	cfg         policy.Config
	holdUntil   time.Time
	lastRestore time.Time
}

// NewBaseline returns the baseline for cfg.
func NewBaseline(cfg policy.Config) *Baseline { return &Baseline{cfg: cfg} }

// Name implements Controller.
func (c *Baseline) Name() string { return "baseline" }

// Restart implements Controller.
func (c *Baseline) Restart() { c.holdUntil, c.lastRestore = time.Time{}, time.Time{} }

// Step implements Controller.
func (c *Baseline) Step(now time.Time, rd policy.Readings, fleet []policy.Miner) []policy.Decision {
	cfg := &c.cfg
	order := make([]int, 0, len(fleet)) // least efficient first
	running := 0.0
	for i := range fleet { // every session that authorized counts as a miner
		order = append(order, i)
		if fleet[i].Commanded.Action != policy.ActionPause {
			running += fleet[i].RatedKW
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(fleet[b].EfficiencyJTH, fleet[a].EfficiencyJTH) })
	var out []policy.Decision
	pause := func(i int, r policy.Reason) float64 {
		out = append(out, policy.Decision{MinerID: fleet[i].ID, Action: policy.ActionPause, FromKW: fleet[i].RatedKW, Reason: r})
		return fleet[i].RatedKW
	}
	site, ok := rd.Get(policy.RoleSiteImport)
	if !ok || now.Sub(site.At) > cfg.StaleAfter.D() || math.IsNaN(site.Value) || site.Value < 0 {
		for _, i := range order {
			if running <= cfg.SafeFloorKW {
				break
			}
			if fleet[i].Commanded.Action != policy.ActionPause {
				running -= pause(i, policy.ReasonSafeFloor)
			}
		}
		return out
	}
	threshold := cfg.ImportLimitKW - cfg.MarginKW
	if need := site.Value - threshold; need > 0 {
		if now.Before(c.holdUntil) {
			return nil // wait for the meter to confirm the last shed
		}
		for _, i := range order {
			if need <= 0 {
				break
			}
			if fleet[i].Commanded.Action != policy.ActionPause {
				need -= pause(i, policy.ReasonImportLimit)
			}
		}
		c.holdUntil = now.Add(cfg.ConfirmAfter.D())
		return out
	}
	if now.Sub(c.lastRestore) < cfg.RestoreInterval.D() {
		return nil
	}
	room := threshold - site.Value - cfg.HysteresisKW
	budget := min(room, cfg.RestoreStepKW)
	for k := len(order) - 1; k >= 0; k-- { // most efficient first
		i := order[k]
		m := &fleet[i]
		if m.Commanded.Action != policy.ActionPause || now.Sub(m.Commanded.Since) < cfg.MinPause.D() || m.RatedKW > budget {
			continue
		}
		budget -= m.RatedKW
		out = append(out, policy.Decision{MinerID: m.ID, Action: policy.ActionRun, TargetKW: m.RatedKW, Reason: policy.ReasonRestore})
	}
	if len(out) > 0 {
		c.lastRestore = now
	}
	return out
}

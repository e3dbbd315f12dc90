package policy_test

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// A shed the firmware keeps refusing (wrong credentials, API down) stays pending and is
// retried, and the miner keeps drawing. Its power is not free: other miners are shed in its
// place until the site is back within the limit, and once the sleep finally lands the extra
// shed is given back by the ordinary, paced restore.
func TestRefusedShedIsMadeUpElsewhere(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.ImportLimitKW, cfg.MarginKW, cfg.HysteresisKW = 100, 5, 1
	cfg.MinRun, cfg.MinPause = 0, policy.Duration(time.Minute)
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var fleet []policy.Miner
	for i, id := range []string{"a", "b", "c", "d"} {
		fleet = append(fleet, policy.Miner{ID: id, Group: "g", Priority: 10 - i, RatedKW: 20, EfficiencyJTH: 20, Ramp: 2 * time.Second,
			Proven: true, Commanded: policy.Command{Action: policy.ActionRun, Since: t0.Add(-time.Hour)}})
	}
	const otherKW = 54.0
	// The first miner told to pause refuses until refusing is false; the others sleep at once
	// (their firmware ramp, 2 s, is what the engine waits for before it trusts a shed).
	stuck, refusing := "", true
	asleep := map[string]bool{}
	site := func() float64 {
		kw := otherKW
		for _, m := range fleet {
			if !asleep[m.ID] {
				kw += m.RatedKW
			}
		}
		return kw
	}
	var st policy.State
	var rd policy.Readings
	now := t0
	step := func() []policy.Decision {
		rd.Set(policy.Reading{Role: policy.RoleSiteImport, Value: site(), At: now})
		var out policy.Output
		st, out = policy.Decide(&cfg, st, policy.Input{Now: now, Readings: rd, Fleet: fleet})
		for _, d := range out.Decisions {
			for k := range fleet {
				m := &fleet[k]
				if m.ID != d.MinerID {
					continue
				}
				if d.Action == policy.ActionPause && stuck == "" {
					stuck = m.ID
				}
				from, _ := policy.DrawKW(&cfg, m, now)
				since := m.Commanded.Since
				if d.Action != m.Commanded.Action {
					since = now
				}
				// As the Runner records a shed refused twice: pending, marked refused.
				failed := m.ID == stuck && d.Action == policy.ActionPause && refusing
				m.Commanded = policy.Command{Action: d.Action, TargetKW: d.TargetKW, Since: since, Changed: now,
					FromKW: from, Pending: failed, Refused: failed}
				asleep[m.ID] = d.Action == policy.ActionPause && !failed
			}
		}
		now = now.Add(time.Second)
		return out.Decisions
	}
	over := 0
	for i := 0; i < 120; i++ {
		step()
		if stuck != "" && site() > cfg.ImportLimitKW {
			over++
		}
	}
	if stuck == "" {
		t.Fatal("no miner was shed: the scenario does not exercise a refused shed")
	}
	if imp := site(); imp > cfg.ImportLimitKW || over > 3 {
		t.Fatalf("miner %s's sleep refused: the site imports %.0f kW (limit %.0f kW), over the limit for %d steps", stuck, imp, cfg.ImportLimitKW, over)
	}
	shed := 0
	for _, a := range asleep {
		if a {
			shed++
		}
	}
	// 80 kW of miners over a 41 kW budget: two asleep, the refused one not among them.
	if shed != 2 || asleep[stuck] {
		t.Fatalf("%d miners asleep (refused: %s), want 2 others (no over-shed)", shed, stuck)
	}

	// The sleep lands (the retry succeeds): the extra shed is restored, once, and nothing is
	// paused again.
	refusing = false
	for k := range fleet {
		if m := &fleet[k]; m.ID == stuck {
			m.Commanded.Pending, m.Commanded.Refused = false, false
			asleep[m.ID] = true
		}
	}
	var restores, pauses int
	for i := 0; i < 300; i++ {
		for _, d := range step() {
			if d.Action == policy.ActionPause {
				pauses++
			} else {
				restores++
			}
		}
		if site() > cfg.ImportLimitKW {
			t.Fatalf("over the limit after the sleep landed: %.0f kW", site())
		}
	}
	if restores != 1 || pauses != 0 {
		t.Fatalf("after the sleep landed: %d restores, %d pauses; want the one extra shed restored and nothing paused", restores, pauses)
	}
}

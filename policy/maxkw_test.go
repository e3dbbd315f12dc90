package policy_test

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestMaxKWHoldsWhenPowerComesBack: a group's max_kw caps what its miners are given back. A
// paused miner restored, a throttled one raised and a running one adopted all stop at max_kw
// (a throttle), never a run at rated_kw; a miner without power targets still runs.
func TestMaxKWHoldsWhenPowerComesBack(t *testing.T) {
	old := epoch.Add(-time.Hour)
	capped := policy.ThrottleRange{MinKW: 4, MaxKW: 8} // rated 10 kW, max_kw 8
	for _, tc := range []struct {
		name     string
		thr      policy.ThrottleRange
		cmd      policy.Command
		wantAct  policy.Action
		wantKW   float64
		wantWhy  policy.Reason
		wantNone bool
	}{
		{"paused, restored", capped, policy.Command{Action: policy.ActionPause, Since: old}, policy.ActionThrottle, 8, policy.ReasonRestore, false},
		{"throttled, raised", capped, policy.Command{Action: policy.ActionThrottle, TargetKW: 5, Since: old}, policy.ActionThrottle, 8, policy.ReasonRestore, false},
		{"unknown, adopted", capped, policy.Command{}, policy.ActionThrottle, 8, policy.ReasonAdopt, false},
		{"throttled at max_kw", capped, policy.Command{Action: policy.ActionThrottle, TargetKW: 8, Since: old}, 0, 0, 0, true},
		{"on/off, restored", policy.ThrottleRange{}, policy.Command{Action: policy.ActionPause, Since: old}, policy.ActionRun, 10, policy.ReasonRestore, false},
		{"max_kw is rated_kw", policy.ThrottleRange{MinKW: 4, MaxKW: 10}, policy.Command{Action: policy.ActionPause, Since: old}, policy.ActionRun, 10, policy.ReasonRestore, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, nil)
			s.fleet = s.fleet[:1] // a-eff: 10 kW rated
			s.fleet[0].Throttle, s.fleet[0].Commanded = tc.thr, tc.cmd
			draw := 0.0
			switch tc.cmd.Action {
			case policy.ActionThrottle:
				draw = tc.cmd.TargetKW
			case policy.ActionUnknown:
				draw = 10
			}
			// Other load 40: budget 50, room for everything the miner can take.
			out := s.step(policy.RoleSiteImport, 40+draw)
			if tc.wantNone {
				if len(out.Decisions) != 0 {
					t.Fatalf("a miner at its max_kw was given more: %v", out.Decisions)
				}
				return
			}
			if len(out.Decisions) != 1 {
				t.Fatalf("decisions %v, want one", out.Decisions)
			}
			d := out.Decisions[0]
			if d.Action != tc.wantAct || d.TargetKW != tc.wantKW || d.Reason != tc.wantWhy {
				t.Fatalf("got %s %.1f kW (%s), want %s %.1f kW (%s)", d.Action, d.TargetKW, d.Reason, tc.wantAct, tc.wantKW, tc.wantWhy)
			}
			// Later steps with the same room change nothing: the cap holds.
			s.advance(time.Hour)
			if out := s.step(policy.RoleSiteImport, 40+tc.wantKW); len(out.Decisions) != 0 {
				t.Fatalf("the next step moved it on: %v", out.Decisions)
			}
		})
	}
}

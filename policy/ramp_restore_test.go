package policy_test

import (
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// A shed miner counts as drawing what it drew until its ramp ends or its own telemetry says
// otherwise; a site meter that shows the drop sooner then makes the load outside mining look
// smaller by the shed. That gap is not room: with restore_interval shorter than the ramp and
// no min_pause, the engine gave the shed miner its power back one reading later, and shed it
// again at the next (a toggle every few seconds for as long as the telemetry lagged).
func TestShedStillRampingIsNoRoomToRestore(t *testing.T) {
	s := newSite(t, func(c *policy.Config) {
		c.RestoreInterval, c.MinPause, c.MinRun = policy.Duration(time.Second), 0, 0
		c.ConfirmAfter, c.MeterLag = policy.Duration(20*time.Second), 0
	})
	old := s.now.Add(-time.Hour)
	s.fleet = nil
	for _, id := range []string{"m0", "m1", "m2", "m3"} {
		s.fleet = append(s.fleet, policy.Miner{ID: id, Group: "g", RatedKW: 10, EfficiencyJTH: 20, Proven: true,
			Commanded: policy.Command{Action: policy.ActionRun, Since: old}})
	}
	base := 55.0 // with 40 kW of mining: 95 kW against 90 (100 less the 10 kW margin)
	for i := range 3 {
		s.step(policy.RoleSiteImport, base+s.committed())
		s.advance(time.Second)
		if i == 0 && s.committed() != 30 {
			t.Fatalf("committed %.0f kW after the shed, want 30", s.committed())
		}
	}
	// The meter sees the shed at once; no miner reports telemetry. Until the ramp ends
	// (confirm_after), nothing that was shed may come back: 55 + 40 is over the limit.
	changes := 0
	for range 25 {
		before := s.committed()
		s.step(policy.RoleSiteImport, base+s.committed())
		if s.committed() != before {
			changes++
			t.Logf("%v: committed %.0f -> %.0f kW", s.now.Sub(epoch), before, s.committed())
		}
		s.advance(time.Second)
	}
	if changes != 0 {
		t.Fatalf("%d changes to the fleet while the shed ramped and the load stayed put", changes)
	}
	// Not stuck: once the other load falls, the miner is given back.
	base = 40
	for range 5 {
		s.step(policy.RoleSiteImport, base+s.committed())
		s.advance(time.Second)
	}
	if s.committed() != 40 {
		t.Fatalf("committed %.0f kW after the other load fell to 40 kW, want 40", s.committed())
	}
}

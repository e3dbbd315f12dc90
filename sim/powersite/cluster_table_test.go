package powersite_test

import (
	"os"
	"testing"
	"testing/synctest"

	"github.com/hashgate/hashgate/sim/powersite"
)

// runOne runs sc through one instance's production control loop, policy.Runner with no
// NATS, in simulated time inside a testing/synctest bubble.
func runOne(t *testing.T, sc powersite.Scenario) powersite.Result {
	var r powersite.Result
	synctest.Test(t, func(t *testing.T) {
		r = powersite.Run(&sc, &liveRunner{cfg: sc.Config})
	})
	r.Controller = "1 instance"
	return r
}

// runCluster runs sc through instances cluster.Nodes over NATS and checks that the site had
// one leader at one epoch throughout and no instance isolated itself.
func runCluster(t *testing.T, sc powersite.Scenario, instances int) powersite.Result {
	c := newClusterSite(t, instances, sc.Config)
	r := powersite.Run(&sc, c)
	t.Logf("%s: %s", r.Controller, c.report())
	if len(c.leaders) != 1 || len(c.epochs) != 1 {
		t.Errorf("%s: %d leaders at %d epochs; one leader at one epoch expected", r.Controller, len(c.leaders), len(c.epochs))
	}
	if c.isolated > 0 {
		t.Errorf("%s: an instance isolated itself at %d steps", r.Controller, c.isolated)
	}
	return r
}

// TestClusterSiteOneAndThree runs the AI-burst scenario, cut to its first burst and the
// restore after it, through one instance and through three instances each owning a third of
// the fleet, and checks the control loop's invariants for both.
func TestClusterSiteOneAndThree(t *testing.T) {
	sc := powersite.Scenarios()[0]
	if sc.Name != "ai_spike" {
		t.Fatalf("first scenario is %s", sc.Name)
	}
	sc.DurationS = 400 // one burst (120-270 s), min_pause and the restore after it
	one := runOne(t, sc)
	three := runCluster(t, sc, 3)
	if testing.Verbose() {
		powersite.WriteTable(os.Stdout, []powersite.Result{one, three})
	}
	checkLive(t, one)
	checkLive(t, three)
}

// TestClusterSiteTable is the table in BENCHMARKS.md's "Site across instances": every
// scenario the Runner table runs, for one instance (no NATS), one instance over NATS and
// three instances over NATS. About a minute of wall time per cluster run:
//
//	HASHGATE_SITE_TABLE=1 go test -count=1 -timeout 60m -run TestClusterSiteTable -v ./sim/powersite/
func TestClusterSiteTable(t *testing.T) {
	if os.Getenv("HASHGATE_SITE_TABLE") != "1" {
		t.Skip("set HASHGATE_SITE_TABLE=1 for the whole table")
	}
	var rs []powersite.Result
	for _, sc := range powersite.Scenarios() {
		if len(sc.Restarts) > 0 {
			continue // a restart of the Runner is the power package's (restart hold, replay)
		}
		t.Run(sc.Name, func(t *testing.T) {
			one := runOne(t, sc)
			alone := runCluster(t, sc, 1)
			three := runCluster(t, sc, 3)
			for _, r := range []powersite.Result{one, alone, three} {
				checkLive(t, r)
			}
			rs = append(rs, one, alone, three)
		})
	}
	powersite.WriteTable(os.Stdout, rs)
}

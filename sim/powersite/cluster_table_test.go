package powersite_test

import (
	"fmt"
	"io"
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
		// The server expires the lease in real time: a warm-up or steps slower than lease_ttl
		// in wall time (a starved box) would show here as a second term.
		t.Errorf("%s: %d leaders at %d epochs; one leader at one epoch expected (%s)", r.Controller, len(c.leaders), len(c.epochs), c.report())
	}
	if c.isolated > 0 {
		t.Errorf("%s: an instance isolated itself at %d steps", r.Controller, c.isolated)
	}
	return r
}

// TestClusterSiteOneAndThree runs two scenarios, cut to their first AI burst and the restore
// after it, through one instance and through three instances each owning a third of the
// fleet, and checks the control loop's invariants for both: the burst alone, and the burst
// with a fifth of all firmware commands failing (failed orders answered to the leader and
// decided again).
func TestClusterSiteOneAndThree(t *testing.T) {
	for _, name := range []string{"ai_spike", "firmware_failures"} {
		t.Run(name, func(t *testing.T) {
			if name != "ai_spike" && testing.Short() {
				t.Skip("-short runs the burst alone")
			}
			var sc powersite.Scenario
			for _, s := range powersite.Scenarios() {
				if s.Name == name {
					sc = s
				}
			}
			if sc.Name == "" {
				t.Fatalf("no scenario %s", name)
			}
			sc.DurationS = 400 // one burst (120-270 s), min_pause and the restore after it
			one := runOne(t, sc)
			three := runCluster(t, sc, 3)
			if testing.Verbose() {
				powersite.WriteTable(os.Stdout, []powersite.Result{one, three})
			}
			checkLive(t, one)
			checkLive(t, three)
		})
	}
}

// oneRuns is how often the table runs each scenario through one instance: inside the
// bubble the Runner's goroutines are scheduled differently from run to run, and the spare
// energy with them, while the cluster's manual clock orders every step the same way.
const oneRuns = 5

// TestClusterSiteTable is the table in BENCHMARKS.md's "Site across instances": every
// scenario the Runner table runs, for one instance (no NATS), one instance over NATS and
// three instances over NATS. About 40 s of wall time per cluster run:
//
//	HASHGATE_SITE_TABLE=1 go test -count=1 -timeout 60m -run TestClusterSiteTable -v ./sim/powersite/
func TestClusterSiteTable(t *testing.T) {
	if os.Getenv("HASHGATE_SITE_TABLE") != "1" {
		t.Skip("set HASHGATE_SITE_TABLE=1 for the whole table")
	}
	var rows []tableRow
	for _, sc := range powersite.Scenarios() {
		if len(sc.Restarts) > 0 {
			continue // a restart of the Runner is the power package's (restart hold, replay)
		}
		t.Run(sc.Name, func(t *testing.T) {
			one := tableRow{Result: runOne(t, sc)}
			one.lo, one.hi = one.SpareUsedPct, one.SpareUsedPct
			checkLive(t, one.Result)
			for range oneRuns - 1 {
				r := runOne(t, sc)
				checkLive(t, r)
				one.lo, one.hi = min(one.lo, r.SpareUsedPct), max(one.hi, r.SpareUsedPct)
			}
			alone := runCluster(t, sc, 1)
			three := runCluster(t, sc, 3)
			checkLive(t, alone)
			checkLive(t, three)
			rows = append(rows, one, tableRow{Result: alone}, tableRow{Result: three})
		})
	}
	writeCompare(os.Stdout, rows)
}

// tableRow is one run of the table, with the range of the spare energy used over oneRuns
// runs for one instance.
type tableRow struct {
	powersite.Result
	lo, hi float64
}

// writeCompare writes powersite.WriteTable's columns; one instance's spare energy is its
// first run with the range of all its runs.
func writeCompare(w io.Writer, rs []tableRow) {
	fmt.Fprintln(w, "| scenario | controller | s above limit beyond firmware delay | max over kW | spare energy used % | over-shed kW·s | fast toggles | restore s (bound) | stuck |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rs {
		restore := "—"
		if r.RestoreBoundS > 0 {
			restore = fmt.Sprintf("%.0f (%.0f)", r.RestoreS, r.RestoreBoundS)
		}
		spare := fmt.Sprintf("%.2f", r.SpareUsedPct)
		if r.hi > 0 {
			spare += fmt.Sprintf(" (%.2f–%.2f in %d runs)", r.lo, r.hi, oneRuns)
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | %s | %.1f | %d | %s | %v |\n", r.Scenario, r.Controller, r.AboveLimitS,
			r.MaxOverKW, spare, r.OverShedKWs, r.FastToggles, restore, r.Stuck)
	}
}

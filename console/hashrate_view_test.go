package console

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// TestViewHashrateNowExcludesPaused: 12 workers, 10 paused at the gate (the proxy reports them
// paused with 0 now) and 1 paused by a policy command the gate has not yet shown: the site's
// and the groups' now count only the running one, the windows still count what every worker
// proved, and the proxy's windows reach the overview as they are.
func TestViewHashrateNowExcludesPaused(t *testing.T) {
	b := newFleetBackend(12, true)
	for i := range b.workers {
		w := &b.workers[i]
		h := 1e12 * float64(i+1)
		w.Hashrate, w.Hashrate5m, w.Hashrate1h, w.Hashrate24h = h, h, h/2, h/4
		if i >= 2 {
			w.State, w.Hashrate = "paused", 0
		}
	}
	b.snap.Miners[1].Commanded = policy.Command{Action: policy.ActionPause}
	b.status.Hashrate, b.status.Hashrate5m, b.status.Hashrate1h, b.status.Hashrate24h = 78e12, 78e12, 39e12, 19.5e12

	v := buildView(b, time.Now())
	o := v.overview
	if o.Hashrate != 1e12 || o.Miners.Paused != 11 || o.Miners.Running != 1 {
		t.Fatalf("overview now %v (want 1e12, worker 0 only), paused %d running %d", o.Hashrate, o.Miners.Paused, o.Miners.Running)
	}
	if o.Hashrate5m != 78e12 || o.Hashrate1h != 39e12 || o.Hashrate24h != 19.5e12 {
		t.Fatalf("overview windows %v %v %v", o.Hashrate5m, o.Hashrate1h, o.Hashrate24h)
	}
	if v.point.Hashrate != o.Hashrate {
		t.Fatalf("chart point %v, overview %v", v.point.Hashrate, o.Hashrate)
	}
	r := v.workers[1]
	if r.State != "paused" || r.Hashrate != 0 || r.Hashrate5m != 2e12 || r.Hashrate24h != 0.5e12 {
		t.Fatalf("policy-paused row: %+v", r)
	}
	var rack1, rack2 GroupView
	for _, g := range v.policy.Groups {
		switch g.Name {
		case "rack1":
			rack1 = g
		case "rack2":
			rack2 = g
		}
	}
	// rack1 holds workers 0, 2, 4, ..., 10; rack2 1, 3, ..., 11: all of rack2 is paused.
	if rack1.Hashrate != 1e12 || rack1.Hashrate5m != 36e12 || rack2.Hashrate != 0 || rack2.Hashrate5m != 42e12 {
		t.Fatalf("groups: rack1 now %v 5m %v, rack2 now %v 5m %v", rack1.Hashrate, rack1.Hashrate5m, rack2.Hashrate, rack2.Hashrate5m)
	}
	if tl := v.groups["rack2"]; tl == nil || tl.hashrate != 0 {
		t.Fatalf("rack2's hashrate series counts paused workers: %+v", tl)
	}
}

// TestViewHashrateNotFinite: a NaN or infinite estimate (from a broken backend) reads 0, so
// the JSON stays valid.
func TestViewHashrateNotFinite(t *testing.T) {
	b := newFleetBackend(2, false)
	b.workers[0].Hashrate, b.workers[0].Hashrate5m, b.workers[0].Hashrate1h = math.NaN(), math.Inf(1), math.Inf(-1)
	b.status.Hashrate24h = math.NaN()
	v := buildView(b, time.Now())
	if r := v.workers[0]; r.Hashrate != 0 || r.Hashrate5m != 0 || r.Hashrate1h != 0 || v.overview.Hashrate24h != 0 {
		t.Fatalf("row %+v, overview 24h %v", r, v.overview.Hashrate24h)
	}
	if _, err := json.Marshal(v.overview); err != nil {
		t.Fatal(err)
	}
}

package app

import (
	"net/http"
	"slices"
	"testing"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/power"
)

// TestBulkPauseAudited runs hashgate with two simulated miners and pauses both and a name
// that is not connected in one bulk request: the two are held by the operator and each has
// its own audit record in the store, the third fails alone with not found; a bulk resume
// lifts both holds and is audited per worker too.
func TestBulkPauseAudited(t *testing.T) {
	p := startPolicyApp(t, console.RoleAdmin)
	p.miner("rack1.a")
	p.miner("rack1.b")
	waitFor(t, "both miners in the power inventory", func() bool { return len(p.a.Power.Gates()) == 2 })

	type result struct {
		Worker string `json:"worker"`
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
	}
	var res struct {
		Done, Failed int
		Results      []result
	}
	code := p.call("POST", "/api/v1/workers/bulk", `{"action":"pause","workers":["rack1.a","rack1.nosuch","rack1.b"]}`, &res)
	if code != http.StatusOK || res.Done != 2 || res.Failed != 1 || len(res.Results) != 3 ||
		!res.Results[0].OK || res.Results[1].OK || res.Results[1].Error == "" || !res.Results[2].OK {
		t.Fatalf("bulk pause: %d %+v", code, res)
	}
	for _, w := range []string{"rack1.a", "rack1.b"} {
		if h := p.a.Power.Holds(w); h&power.HoldOperator == 0 {
			t.Errorf("%s holds %s after the bulk pause", w, h)
		}
	}
	audited := func(kind string) []string {
		t.Helper()
		var ev struct {
			Source string
			Events []struct {
				Subject string `json:"subject"`
				Actor   string `json:"actor"`
			}
		}
		if code := p.call("GET", "/api/v1/events?kind="+kind, "", &ev); code != http.StatusOK || ev.Source != "store" {
			t.Fatalf("events %s: %d from %q", kind, code, ev.Source)
		}
		var out []string
		for _, e := range ev.Events {
			out = append(out, e.Actor+" "+e.Subject)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"token:e2e rack1.a", "token:e2e rack1.b"}
	if got := audited(power.KindPauseWorker); !slices.Equal(got, want) {
		t.Fatalf("audited pauses %q, want %q", got, want)
	}
	if code := p.call("POST", "/api/v1/workers/bulk", `{"action":"resume","workers":["rack1.a","rack1.b"]}`, &res); code != http.StatusOK || res.Done != 2 {
		t.Fatalf("bulk resume: %d %+v", code, res)
	}
	for _, w := range []string{"rack1.a", "rack1.b"} {
		if h := p.a.Power.Holds(w); h&power.HoldOperator != 0 {
			t.Errorf("%s still held by the operator after the bulk resume (%s)", w, h)
		}
	}
	if got := audited(power.KindResumeWorker); !slices.Equal(got, want) {
		t.Fatalf("audited resumes %q, want %q", got, want)
	}
}

package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
)

// policyOf is GET /api/v1/policy on a's console.
func policyOf(t *testing.T, a *App) console.PolicyView {
	t.Helper()
	return getJSON[console.PolicyView](t, a, siteViewer, "/api/v1/policy")
}

// A follower's GET /api/v1/policy says where the site's policy runs: the leader it follows,
// the epoch and the leader's console URL, in a sentence for the page. The leader's own
// answer is the site's policy, without that pointer.
func TestFollowerPolicyPointsToTheLeader(t *testing.T) {
	_, paddr := startTestPool(t)
	embed, reach := siteNATS(t)
	urls := map[string]string{"hall-a": "https://hall-a.example:8443", "hall-b": "https://hall-b.example:8443"}
	a := startSiteApp(t, paddr, "hall-a", urls["hall-a"], embed)
	b := startSiteApp(t, paddr, "hall-b", urls["hall-b"], reach)
	var leader, follower *App
	waitFor(t, "one leader running the site's policy, one follower", func() bool {
		for _, x := range [][2]*App{{a, b}, {b, a}} {
			if x[0].Cluster.Runner() != nil && x[1].Cluster.Status().Role == cluster.RoleFollower && x[1].Cluster.Status().Leader == x[0].Cluster.Instance() {
				leader, follower = x[0], x[1]
				return true
			}
		}
		return false
	})
	name := leader.Cluster.Instance()
	var sp *console.SitePolicy
	waitFor(t, "the follower's policy naming the leader and its console", func() bool {
		pv := policyOf(t, follower)
		sp = pv.SitePolicy
		return !pv.Enabled && sp != nil && sp.Leader == name && sp.ConsoleURL == urls[name]
	})
	if sp.Role != cluster.RoleFollower || sp.Epoch == 0 || sp.Epoch != leader.Cluster.Status().Epoch {
		t.Errorf("follower's site_policy %+v, leader at epoch %d", sp, leader.Cluster.Status().Epoch)
	}
	if want := "this instance follows " + name + "; the site policy is at " + urls[name]; sp.Note != want {
		t.Errorf("note %q, want %q", sp.Note, want)
	}
	waitFor(t, "the leader's policy enabled", func() bool { return policyOf(t, leader).Enabled })
	if pv := policyOf(t, leader); pv.SitePolicy != nil {
		t.Errorf("the leader points elsewhere: %+v", pv.SitePolicy)
	}
	_, body := siteCall(t, follower, siteViewer, http.MethodGet, "/api/v1/snapshot", "")
	if !strings.Contains(string(body), `"site_policy":{"role":"follower","leader":"`+name+`"`) {
		t.Errorf("the follower's snapshot lacks the site_policy: %.300s", body)
	}
}

package console

import (
	"testing"

	"github.com/hashgate/hashgate/cluster"
)

// Every place a clustered instance without the site's Runner can be in has its own answer:
// following a leader with or without a console URL, isolated, no leader heard yet, and the
// leader whose term is starting.
func TestSitePolicyNotes(t *testing.T) {
	inst := func(name string, role cluster.Role, url string, self bool) cluster.SiteInstance {
		return cluster.SiteInstance{Name: name, Role: role, ConsoleURL: url, Self: self}
	}
	for _, tc := range []struct {
		name string
		site cluster.Site
		want SitePolicy
	}{
		{"follower", cluster.Site{Instance: "b", Leader: "a", Epoch: 9, Instances: []cluster.SiteInstance{
			inst("a", cluster.RoleLeader, "https://a:8443", false), inst("b", cluster.RoleFollower, "https://b:8443", true)}},
			SitePolicy{Role: cluster.RoleFollower, Leader: "a", Epoch: 9, ConsoleURL: "https://a:8443",
				Note: "this instance follows a; the site policy is at https://a:8443"}},
		{"leader without a console URL", cluster.Site{Instance: "b", Leader: "a", Epoch: 9, Instances: []cluster.SiteInstance{
			inst("a", cluster.RoleLeader, "", false), inst("b", cluster.RoleFollower, "", true)}},
			SitePolicy{Role: cluster.RoleFollower, Leader: "a", Epoch: 9,
				Note: "this instance follows a; the site policy is on a, which sets no [cluster] console_url"}},
		{"isolated", cluster.Site{Instance: "b", Leader: "a", Epoch: 9, Instances: []cluster.SiteInstance{
			inst("a", cluster.RoleLeader, "https://a:8443", false), inst("b", cluster.RoleIsolated, "", true)}},
			SitePolicy{Role: cluster.RoleIsolated, Leader: "a", Epoch: 9, ConsoleURL: "https://a:8443",
				Note: "this instance heard no site leader for stale_after: its own miners are held at its safe_floor_kw, under the site controls it last saw"}},
		{"no leader yet", cluster.Site{Instance: "b", Instances: []cluster.SiteInstance{inst("b", cluster.RoleFollower, "", true)}},
			SitePolicy{Role: cluster.RoleFollower, Note: "this instance has not heard a site leader yet"}},
		{"leader starting", cluster.Site{Instance: "b", Leader: "b", Epoch: 3, Instances: []cluster.SiteInstance{inst("b", cluster.RoleLeader, "", true)}},
			SitePolicy{Role: cluster.RoleLeader, Leader: "b", Epoch: 3, Note: "this instance leads the site; its policy is starting"}},
	} {
		if got := sitePolicyFrom(tc.site); *got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, *got, tc.want)
		}
	}
}

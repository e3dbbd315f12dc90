package console

import "github.com/hashgate/hashgate/cluster"

// SitePolicy tells the console of a clustered instance that does not run the site's policy
// (a follower, an isolated instance) where it runs: the site's Runner is on the leader, and
// the leader's own console shows it live, decisions and miners included. A copy here would
// be a second, older truth.
type SitePolicy struct {
	// Role is this instance's: follower or isolated (or leader while its term starts).
	Role cluster.Role `json:"role"`
	// Leader is the instance whose orders this one last obeyed ("" before any), at Epoch.
	Leader string `json:"leader"`
	Epoch  uint64 `json:"epoch"`
	// ConsoleURL is the leader's [cluster] console_url ("" when it sets none or is unheard).
	ConsoleURL string `json:"console_url,omitempty"`
	// Note says it in a sentence for the page.
	Note string `json:"note"`
}

// sitePolicyOf is where the site's policy runs, for a clustered instance without the site's
// Runner; nil alone (no [cluster]) or while this instance runs the policy.
func sitePolicyOf(b Reader, hasPolicy bool) *SitePolicy {
	sr, ok := b.(SiteReader)
	if hasPolicy || !ok {
		return nil
	}
	s, ok := sr.Site()
	if !ok {
		return nil
	}
	return sitePolicyFrom(s)
}

// sitePolicyFrom is where the policy of site s runs, as its instance s.Instance sees it.
func sitePolicyFrom(s cluster.Site) *SitePolicy {
	sp := &SitePolicy{Role: cluster.RoleFollower, Leader: s.Leader, Epoch: s.Epoch}
	for _, in := range s.Instances {
		switch {
		case in.Self:
			sp.Role = in.Role
		case in.Name == s.Leader:
			sp.ConsoleURL = in.ConsoleURL
		}
	}
	switch {
	case sp.Role == cluster.RoleIsolated:
		sp.Note = "this instance heard no site leader for stale_after: its own miners are held at its safe_floor_kw, under the site controls it last saw"
	case sp.Role == cluster.RoleLeader || s.Leader == s.Instance:
		sp.Note = "this instance leads the site; its policy is starting"
	case s.Leader == "":
		sp.Note = "this instance has not heard a site leader yet"
	case sp.ConsoleURL == "":
		sp.Note = "this instance follows " + s.Leader + "; the site policy is on " + s.Leader + ", which sets no [cluster] console_url"
	default:
		sp.Note = "this instance follows " + s.Leader + "; the site policy is at " + sp.ConsoleURL
	}
	return sp
}

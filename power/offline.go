package power

import (
	"cmp"
	"slices"
	"time"
)

// Offline is a worker the Controller keeps state for while it is not connected: one that
// disconnected less than offline_ttl ago, a held one, or one whose last state a previous run
// left in the store. An operator sees who went offline, since when, and when it was last
// seen, instead of the worker vanishing from the console.
type Offline struct {
	Worker string
	Group  string    // the [[fleet]] group it matched when last connected; empty if unknown
	Since  time.Time // when its last connection closed, or when this run made its state
	// LastShare is its latest valid share; zero when none was seen in this run.
	LastShare time.Time
	Holds     Hold
}

// Offline returns the disconnected workers the Controller keeps state for, sorted by name.
// Workers that match no [[fleet]] group are not kept, so not listed.
func (c *Controller) Offline() []Offline {
	c.mu.Lock()
	out := make([]Offline, 0, len(c.miners)/8)
	for id, m := range c.miners {
		if m.connected {
			continue
		}
		out = append(out, Offline{Worker: id, Group: m.view.Group, Since: m.offSince, LastShare: m.lastShare, Holds: m.holds})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Offline) int { return cmp.Compare(a.Worker, b.Worker) })
	return out
}

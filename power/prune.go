package power

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/hashgate/hashgate/store"
)

// The Controller keeps state by worker name beyond a connection: holds, the last command,
// the evidence that it is a miner, the warnings about it, and (in the store) its last decided
// state, which a restart resumes. A worker that never comes back (renamed, moved, mistyped,
// or one of the names a client churns through) would keep all of it for ever.
//
// The rule: a worker with a hold is never forgotten while the hold stands (an operator's pause
// stays until the operator resumes it; a policy, restart or safety hold until the policy
// decides the worker again). A worker without one is forgotten offline_ttl after its last
// connection closed (for state restored or replayed at start and not connected since: after
// the start), and its stored last state with it. At most max_offline such workers are kept;
// beyond that the longest-disconnected are forgotten first.

// forgetQueue bounds the forgotten workers waiting for the store writer to delete their last
// states (a day's expiry of a large fleet, or the states of a long-gone fleet restored at
// start, arrive at once); forgetBatch is the most it deletes in one transaction.
const (
	forgetQueue = 1 << 16
	forgetBatch = 512
)

// pruneLocked forgets what offline_ttl and max_offline say must go; c.mu held. It runs with
// every inventory sync; it allocates only when more than max_offline workers are offline.
func (c *Controller) pruneLocked(now time.Time) {
	ttl := c.cfg.OfflineTTL.D()
	offline := 0
	for id, m := range c.miners {
		if m.connected || m.holds != 0 {
			continue
		}
		if now.Sub(m.offSince) >= ttl {
			c.forgetLocked(id, now)
			continue
		}
		offline++
	}
	if offline > c.cfg.MaxOffline {
		type gone struct {
			id    string
			since time.Time
		}
		all := make([]gone, 0, offline)
		for id, m := range c.miners {
			if !m.connected && m.holds == 0 {
				all = append(all, gone{id, m.offSince})
			}
		}
		slices.SortFunc(all, func(a, b gone) int { return cmp.Or(a.since.Compare(b.since), cmp.Compare(a.id, b.id)) })
		for _, g := range all[:offline-c.cfg.MaxOffline] {
			c.forgetLocked(g.id, now)
		}
	}
	// A warning is remembered while its worker is connected (its time is now) and for
	// offline_ttl after, the longest-disconnected forgotten first beyond max_offline.
	stale := 0
	for k, seen := range c.warned {
		switch {
		case now.Sub(seen) >= ttl:
			delete(c.warned, k)
		case seen.Before(now):
			stale++
		}
	}
	if stale > c.cfg.MaxOffline {
		keys := make([]string, 0, stale)
		for k, seen := range c.warned {
			if seen.Before(now) {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b string) int { return cmp.Or(c.warned[a].Compare(c.warned[b]), cmp.Compare(a, b)) })
		for _, k := range keys[:stale-c.cfg.MaxOffline] {
			delete(c.warned, k)
		}
	}
}

// forgetLocked drops a hold-free worker's state and queues its stored last state for
// deletion; c.mu held.
func (c *Controller) forgetLocked(id string, now time.Time) {
	delete(c.miners, id)
	if c.st == nil {
		return
	}
	if len(c.forgotten) >= forgetQueue {
		c.forgetDrops.Add(1)
		return
	}
	c.forgotten = append(c.forgotten, store.Forget{MinerID: id, Before: now})
	select {
	case c.forgetWake <- struct{}{}:
	default:
	}
}

// writeForgets deletes forgotten workers' last states from the store, in batches, until ctx
// is done. What is still queued then is forgotten after the next start instead.
func (c *Controller) writeForgets(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.forgetWake:
		}
		c.mu.Lock()
		fs := c.forgotten
		c.forgotten = nil
		c.mu.Unlock()
		for len(fs) > 0 && ctx.Err() == nil {
			batch := fs[:min(len(fs), forgetBatch)]
			fs = fs[len(batch):]
			n, err := c.st.ForgetMiners(ctx, batch)
			switch {
			case err != nil && ctx.Err() == nil:
				c.log.Warn().Err(err).Int("workers", len(batch)).Msg("forgetting offline workers' last states failed; they are forgotten after the next start")
			case n > 0:
				c.log.Debug().Int64("workers", n).Msg("forgot offline workers' last states")
			}
		}
	}
}

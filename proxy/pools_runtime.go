package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Pools change at run time from the console: SetPools replaces the running set (add, edit,
// remove, reorder in one call, validated like [[pool]] in the file) and ForcePool moves the
// miners to a named pool.
//
// What an edit does to a running pool, by field:
//   - priority: the failover order changes at once; nothing is redialled.
//   - url, user or password: the pool is replaced by a new one that dials afresh (its
//     counters start at zero) and the old one's connections close. Miners stay connected:
//     if it carried them they fail over to the best healthy pool, as when a pool drops,
//     and come back by priority once the new session is up.
//
// A forced pool keeps the miners whatever its priority while it is healthy. The choice ends
// when the operator clears it, when the pool fails a health check (the miners then fail over
// by priority as usual: a forced choice never holds them on a dead pool), or when the pool is
// edited (url, user or password) or removed. It is not kept across a restart.

// Errors of the runtime pool API, usable with errors.Is.
var (
	// ErrInvalidPool wraps why a pool set was refused (a bad url, a missing user, a name used
	// twice), with the key named as in [[pool]].
	ErrInvalidPool = errors.New("invalid pool")
	// ErrPoolNotFound: no running pool has that name.
	ErrPoolNotFound = errors.New("no such pool")
	// ErrPoolDown: a forced switch to a pool that is not healthy now.
	ErrPoolDown = errors.New("pool is not up")
)

// poolsRuntime is the proxy's pool list and the operator's forced choice. The list is
// replaced whole, never changed in place, so the many readers (failover, fan-out, stats)
// take a snapshot without a lock; mu serialises the writers.
type poolsRuntime struct {
	mu sync.Mutex
	// failMu runs failover decisions one at a time and keeps them out of an edit's change
	// of list (lock order: mu, failMu, then Proxy.mu and the split's locks).
	failMu sync.Mutex
	// maskShort holds the pools left out of the split for their version mask
	// (split_mask.go); failMu guards it.
	maskShort map[*pool]bool
	list      atomic.Pointer[[]*pool] // sorted by priority
	forced    atomic.Pointer[pool]
}

// poolList is the current pools, sorted by priority. The slice must not be modified.
func (p *Proxy) poolList() []*pool { return *p.rt.list.Load() }

// liveLocked says whether the pool may open connections, giving it its context on first
// use; pl.mu is held. A removed or replaced pool opens none.
func (pl *pool) liveLocked() bool {
	if pl.ctx == nil {
		pl.ctx, pl.stop = context.WithCancel(pl.p.ctx)
	}
	return pl.ctx.Err() == nil
}

// retire closes a pool removed or replaced by an edit: its connections end, and with them
// the verdicts still awaited there (counted unknown, as when a pool drops).
func (pl *pool) retire() {
	pl.mu.Lock()
	if pl.ctx == nil {
		pl.ctx, pl.stop = context.WithCancel(context.Background())
	}
	stop := pl.stop
	pl.mu.Unlock()
	stop()
}

// ValidatePools checks a whole pool set as Config.Validate checks [[pool]]: at least one
// pool, names set and unique, a supported url, a user.
func ValidatePools(pcs []PoolConfig) error {
	if len(pcs) == 0 {
		return fmt.Errorf("%w: pool: at least one [[pool]] is needed", ErrInvalidPool)
	}
	names := make(map[string]bool, len(pcs))
	for i, pc := range pcs {
		key := fmt.Sprintf("pool[%d]", i)
		if err := pc.validate(key); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidPool, err)
		}
		if names[pc.Name] {
			return fmt.Errorf("%w: %s.name: %q used twice", ErrInvalidPool, key, pc.Name)
		}
		names[pc.Name] = true
	}
	return nil
}

// Validate checks one pool on its own as [[pool]] in the file is checked, naming the key
// pool.<key>.
func (pc PoolConfig) Validate() error {
	if err := pc.validate("pool"); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPool, err)
	}
	return nil
}

// PoolConfigs returns the running pool set, in priority order, passwords included (for
// the wiring that persists edits; never for display).
func (p *Proxy) PoolConfigs() []PoolConfig {
	pools := p.poolList()
	out := make([]PoolConfig, len(pools))
	for i, pl := range pools {
		out[i] = pl.cfg
		out[i].Priority = int(pl.prio.Load())
		out[i].Weight = pl.weightNow()
	}
	return out
}

// SetPools makes pcs the running pool set, matching pools by name: a new name is dialled, a
// missing one closed, a changed url, user or password redials that pool only, a changed
// priority reorders and a changed weight re-plans the split at once (neither redials). It
// refuses an invalid set (ErrInvalidPool) before changing anything.
func (p *Proxy) SetPools(pcs []PoolConfig) error {
	return p.EditPools(func([]PoolConfig) ([]PoolConfig, error) { return pcs, nil }, nil)
}

// EditPools is SetPools with the new set made from the running one (PoolConfigs) by edit, and
// commit, when not nil, called with the validated new set before it applies (the wiring
// persists it there). An error from edit, the validation or commit leaves the pools as they
// were. Edits run one at a time, so none is made from a set another is replacing.
func (p *Proxy) EditPools(edit func(cur []PoolConfig) ([]PoolConfig, error), commit func(next []PoolConfig) error) error {
	p.rt.mu.Lock()
	defer p.rt.mu.Unlock()
	pcs, err := edit(p.PoolConfigs())
	if err != nil {
		return err
	}
	if err := ValidatePools(pcs); err != nil {
		return err
	}
	if commit != nil {
		if err := commit(pcs); err != nil {
			return err
		}
	}
	old := p.poolList()
	byName := make(map[string]*pool, len(old))
	for _, pl := range old {
		byName[pl.cfg.Name] = pl
	}
	next := make([]*pool, 0, len(pcs))
	kept := make(map[*pool]bool, len(old))
	var added []*pool
	reweighed := false
	for _, pc := range pcs {
		if pl := byName[pc.Name]; pl != nil && pl.cfg.URL == pc.URL && pl.cfg.User == pc.User && pl.cfg.Password == pc.Password {
			if from := pl.prio.Swap(int64(pc.Priority)); from != int64(pc.Priority) {
				p.log.Info().Str("pool", pc.Name).Int64("from", from).Int("to", pc.Priority).Msg("pool priority changed")
			}
			if from := pl.weightNow(); from != pc.Weight {
				pl.setWeight(pc.Weight)
				p.split.reweighed(pl)
				reweighed = true
				p.log.Info().Str("pool", pc.Name).Float64("from", from).Float64("to", pc.Weight).Msg("pool weight changed")
			}
			kept[pl] = true
			next = append(next, pl)
			continue
		}
		ep, _ := ParseEndpoint(pc.URL) // validated above
		pl := newPool(p, pc, ep)
		next = append(next, pl)
		added = append(added, pl)
	}
	sort.SliceStable(next, func(i, j int) bool { return next[i].prio.Load() < next[j].prio.Load() })
	// No failover decides from the old list once the new one is in, nor sees the new list
	// with a removed pool still active.
	p.rt.failMu.Lock()
	defer p.rt.failMu.Unlock()
	p.rt.list.Store(&next)

	var gone []*pool
	for _, pl := range old {
		if !kept[pl] {
			gone = append(gone, pl)
		}
	}
	if f := p.rt.forced.Load(); f != nil && slices.Contains(gone, f) {
		p.rt.forced.CompareAndSwap(f, nil)
		p.log.Warn().Str("pool", f.cfg.Name).Msg("forced pool edited or removed: miners follow priority order again")
	}
	p.mu.Lock()
	for _, pl := range gone {
		delete(p.knownN, pl) // a layout still to be fixed need not fit a pool that is gone
		delete(p.rt.maskShort, pl)
	}
	if slices.Contains(gone, p.active) {
		// Its work is gone with its connections: the next failover check picks the best
		// pool as if none were active, without waiting out the failback delay.
		p.active = nil
	}
	conns := max(1, len(p.groups))
	p.mu.Unlock()
	for _, pl := range gone {
		pl.retire()
		_, replaced := nameIn(next, pl.cfg.Name)
		p.log.Warn().Str("pool", pl.cfg.Name).Bool("replaced", replaced).Msg("pool closed by a console edit")
	}
	for _, pl := range added {
		if p.ctx != nil { // not started yet: Start dials every pool
			pl.ensureConns(conns)
		}
		p.log.Warn().Str("pool", pl.cfg.Name).Str("url", pl.cfg.URL).Str("user", pl.cfg.User).
			Int64("priority", pl.prio.Load()).Msg("pool added by a console edit")
	}
	if reweighed || len(gone) > 0 || len(old) != len(next) || !slices.Equal(old, next) {
		p.failoverLocked()
	}
	return nil
}

func nameIn(pools []*pool, name string) (*pool, bool) {
	for _, pl := range pools {
		if pl.cfg.Name == name {
			return pl, true
		}
	}
	return nil, false
}

// ForcePool moves the miners to the named pool at once and keeps them there while it is
// healthy (see the package note above). It answers ErrPoolNotFound or, for a pool that is
// not healthy now, ErrPoolDown with the pool's reason.
func (p *Proxy) ForcePool(name string) error {
	p.rt.mu.Lock()
	defer p.rt.mu.Unlock()
	pl, ok := nameIn(p.poolList(), name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrPoolNotFound, name)
	}
	if ok, why := pl.healthy(p.clk.Now()); !ok {
		return fmt.Errorf("%w: %s: %s", ErrPoolDown, name, why)
	}
	p.rt.forced.Store(pl)
	p.log.Warn().Str("pool", name).Msg("miners forced to a pool by the operator")
	p.maybeFailover()
	return nil
}

// ClearForcedPool ends a forced switch to the named pool; the miners follow priority order
// again (a better pool takes them after the usual failback delay). It reports whether that
// pool was forced.
func (p *Proxy) ClearForcedPool(name string) bool {
	p.rt.mu.Lock()
	defer p.rt.mu.Unlock()
	f := p.rt.forced.Load()
	if f == nil || f.cfg.Name != name || !p.rt.forced.CompareAndSwap(f, nil) {
		return false
	}
	p.log.Warn().Str("pool", name).Msg("forced pool cleared by the operator: miners follow priority order again")
	p.maybeFailover()
	return true
}

// ForcedPool is the name of the pool an operator forced, or "".
func (p *Proxy) ForcedPool() string {
	if f := p.rt.forced.Load(); f != nil {
		return f.cfg.Name
	}
	return ""
}

// forcedChoice is the forced pool when it is healthy. A forced pool that is not is let go
// (logged once): failover by priority protects the miners, and the operator's choice does
// not come back by itself when the pool does.
func (p *Proxy) forcedChoice(now time.Time) (*pool, bool) {
	f := p.rt.forced.Load()
	if f == nil {
		return nil, false
	}
	ok, why := f.healthy(now)
	if ok {
		return f, true
	}
	if p.rt.forced.CompareAndSwap(f, nil) {
		p.log.Warn().Str("pool", f.cfg.Name).Str("why", why).Msg("forced pool failed: miners follow priority order again")
	}
	return nil, false
}

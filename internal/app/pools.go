package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// Pools changed from the console. The config file's [[pool]] list is where a run starts; the
// console's changes are kept in the store as edits by pool name over that list (a pool as it
// is to run, or a file pool removed) and applied again at every start, so they survive a
// restart. A change made in the file to a pool the console also edited is overridden by the
// edit; the start log says which pools differ from the file. Each change is validated as
// [[pool]] is, saved with its audit event in one transaction, and only then applied to the
// running proxy. The audit event's detail holds the pool before and after, with whether the
// password changed but never the password.

// Audit event kinds of pool changes.
const (
	KindPoolAdd         = "pool.add"
	KindPoolEdit        = "pool.edit"
	KindPoolRemove      = "pool.remove"
	KindPoolReorder     = "pool.reorder"
	KindPoolSwitch      = "pool.switch"
	KindPoolSwitchClear = "pool.switch_clear"
)

var _ console.PoolController = backend{}

// restorePools applies the console's stored pool edits over the file's pools, before the
// proxy dials. Edits that no longer make a valid set with this file (a pool added in the file
// under a name the console added too is fine; a file with every stored pool removed is not)
// are logged and the file's pools run.
func (a *App) restorePools(ctx context.Context) error {
	edits, err := a.Store.PoolEdits(ctx)
	if err != nil {
		return fmt.Errorf("store: pool edits: %w", err)
	}
	if len(edits) == 0 {
		return nil
	}
	file := a.cfg.ProxyConfig().Pools
	run := applyPoolEdits(file, edits)
	if err := a.Proxy.SetPools(run); err != nil {
		a.log.Error().Err(err).Msg("the console's pool edits do not make a valid set with this config file; running the file's [[pool]] list")
		return nil
	}
	added, edited, removed := poolDiff(file, run)
	a.log.Warn().Strs("added", added).Strs("edited", edited).Strs("removed", removed).
		Msg("pools differ from the config file: the console's edits are applied over it")
	return nil
}

// applyPoolEdits is the file's pools with the edits applied by name, in priority order.
func applyPoolEdits(file []proxy.PoolConfig, edits []store.PoolEdit) []proxy.PoolConfig {
	out := slices.Clone(file)
	for _, e := range edits {
		i := slices.IndexFunc(out, func(pc proxy.PoolConfig) bool { return pc.Name == e.Name })
		switch {
		case e.Removed && i >= 0:
			out = slices.Delete(out, i, i+1)
		case e.Removed:
		case i >= 0:
			out[i] = editConfig(e)
		default:
			out = append(out, editConfig(e))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

func editConfig(e store.PoolEdit) proxy.PoolConfig {
	return proxy.PoolConfig{Name: e.Name, URL: e.URL, User: e.User, Password: e.Password, Priority: e.Priority, Weight: e.Weight}
}

// poolEditsFor is the edits that make the file's pools into run. A pool whose edit is what
// it was keeps the time and actor of when it was made.
func poolEditsFor(file, run []proxy.PoolConfig, prev []store.PoolEdit, now time.Time, actor string) []store.PoolEdit {
	var out []store.PoolEdit
	keep := func(e store.PoolEdit) store.PoolEdit {
		for _, p := range prev {
			if p.Name == e.Name && p.Removed == e.Removed && (e.Removed || editConfig(p) == editConfig(e)) {
				e.Time, e.Actor = p.Time, p.Actor
			}
		}
		return e
	}
	for _, pc := range run {
		if slices.Contains(file, pc) {
			continue
		}
		out = append(out, keep(store.PoolEdit{Name: pc.Name, URL: pc.URL, User: pc.User, Password: pc.Password,
			Priority: pc.Priority, Weight: pc.Weight, Time: now, Actor: actor}))
	}
	for _, f := range file {
		if !slices.ContainsFunc(run, func(pc proxy.PoolConfig) bool { return pc.Name == f.Name }) {
			out = append(out, keep(store.PoolEdit{Name: f.Name, Removed: true, Time: now, Actor: actor}))
		}
	}
	return out
}

// poolDiff names the pools of run that the file lacks, those it has otherwise, and the file's
// pools run lacks.
func poolDiff(file, run []proxy.PoolConfig) (added, edited, removed []string) {
	for _, pc := range run {
		i := slices.IndexFunc(file, func(f proxy.PoolConfig) bool { return f.Name == pc.Name })
		switch {
		case i < 0:
			added = append(added, pc.Name)
		case file[i] != pc:
			edited = append(edited, pc.Name)
		}
	}
	for _, f := range file {
		if !slices.ContainsFunc(run, func(pc proxy.PoolConfig) bool { return pc.Name == f.Name }) {
			removed = append(removed, f.Name)
		}
	}
	return added, edited, removed
}

// poolAudit is a pool as the audit trail shows it: no password, only whether one is set.
type poolAudit struct {
	Name        string  `json:"name"`
	URL         string  `json:"url"`
	User        string  `json:"user"`
	Priority    int     `json:"priority"`
	Weight      float64 `json:"weight,omitempty"`
	PasswordSet bool    `json:"password_set"`
}

func auditOf(pc proxy.PoolConfig) *poolAudit {
	return &poolAudit{Name: pc.Name, URL: pc.URL, User: pc.User, Priority: pc.Priority, Weight: pc.Weight, PasswordSet: pc.Password != ""}
}

// poolChange is the detail of a pool audit event.
type poolChange struct {
	Before          *poolAudit  `json:"before,omitempty"`
	After           *poolAudit  `json:"after,omitempty"`
	PasswordChanged bool        `json:"password_changed,omitempty"`
	Order           []poolOrder `json:"order,omitempty"` // reorder: every pool's priority, before and after
}

type poolOrder struct {
	Name   string `json:"name"`
	Before int    `json:"before"`
	After  int    `json:"after"`
}

func findPool(pcs []proxy.PoolConfig, name string) int {
	return slices.IndexFunc(pcs, func(pc proxy.PoolConfig) bool { return pc.Name == name })
}

// operatorError is an error of a console kind (ErrInvalid, ErrConflict, ErrNotFound) whose
// text is only what the operator must read: "pool.url: bad port", not the chain of packages
// it crossed.
type operatorError struct {
	kind error
	msg  string
}

func opErr(kind error, msg string) error { return operatorError{kind, msg} }
func (e operatorError) Error() string    { return e.msg }
func (e operatorError) Unwrap() error    { return e.kind }

func notFound(name string) error {
	return opErr(console.ErrNotFound, fmt.Sprintf("no pool named %q", name))
}

// editPools runs one console change: f makes the new set from the running one and says what
// changed; the set is validated, saved with its audit event, then applied.
func (b backend) editPools(ctx context.Context, actor, kind, subject string, f func(cur []proxy.PoolConfig) ([]proxy.PoolConfig, poolChange, error)) error {
	var change poolChange
	err := b.a.Proxy.EditPools(func(cur []proxy.PoolConfig) ([]proxy.PoolConfig, error) {
		next, c, err := f(cur)
		change = c
		return next, err
	}, func(next []proxy.PoolConfig) error {
		prev, err := b.a.Store.PoolEdits(ctx)
		if err != nil {
			return err
		}
		detail, err := json.Marshal(change)
		if err != nil {
			return err
		}
		now := time.Now()
		edits := poolEditsFor(b.a.cfg.ProxyConfig().Pools, next, prev, now, actor)
		return b.a.Store.SavePoolEdits(ctx, edits, store.Event{Time: now, Kind: kind, Subject: subject, Detail: detail, Actor: actor})
	})
	if errors.Is(err, proxy.ErrInvalidPool) {
		return opErr(console.ErrInvalid, strings.TrimPrefix(err.Error(), proxy.ErrInvalidPool.Error()+": "))
	}
	return err
}

func (b backend) AddPool(ctx context.Context, actor string, p console.PoolSpec) error {
	pc := proxy.PoolConfig{Name: p.Name, URL: p.URL, User: p.User, Password: p.Password}
	return b.editPools(ctx, actor, KindPoolAdd, p.Name, func(cur []proxy.PoolConfig) ([]proxy.PoolConfig, poolChange, error) {
		if findPool(cur, p.Name) >= 0 {
			return nil, poolChange{}, opErr(console.ErrConflict, fmt.Sprintf("a pool named %q exists", p.Name))
		}
		if p.Weight != nil {
			pc.Weight = *p.Weight
		}
		if p.Priority != nil {
			pc.Priority = *p.Priority
		} else {
			for _, c := range cur {
				pc.Priority = max(pc.Priority, c.Priority+1)
			}
		}
		if err := pc.Validate(); err != nil {
			return nil, poolChange{}, err
		}
		return append(cur, pc), poolChange{After: auditOf(pc)}, nil
	})
}

func (b backend) EditPool(ctx context.Context, actor, name string, p console.PoolPatch) error {
	return b.editPools(ctx, actor, KindPoolEdit, name, func(cur []proxy.PoolConfig) ([]proxy.PoolConfig, poolChange, error) {
		i := findPool(cur, name)
		if i < 0 {
			return nil, poolChange{}, notFound(name)
		}
		before, pc := cur[i], cur[i]
		if p.URL != nil {
			pc.URL = *p.URL
		}
		if p.User != nil {
			pc.User = *p.User
		}
		if p.Password != nil {
			pc.Password = *p.Password
		}
		if p.Priority != nil {
			pc.Priority = *p.Priority
		}
		if p.Weight != nil {
			pc.Weight = *p.Weight // no redial: the split re-plans at once
		}
		if err := pc.Validate(); err != nil {
			return nil, poolChange{}, err
		}
		next := slices.Clone(cur)
		next[i] = pc
		return next, poolChange{Before: auditOf(before), After: auditOf(pc), PasswordChanged: pc.Password != before.Password}, nil
	})
}

func (b backend) RemovePool(ctx context.Context, actor, name string) error {
	return b.editPools(ctx, actor, KindPoolRemove, name, func(cur []proxy.PoolConfig) ([]proxy.PoolConfig, poolChange, error) {
		i := findPool(cur, name)
		if i < 0 {
			return nil, poolChange{}, notFound(name)
		}
		if len(cur) == 1 {
			return nil, poolChange{}, opErr(console.ErrConflict, fmt.Sprintf("%q is the last pool; add another before removing it", name))
		}
		return slices.Delete(slices.Clone(cur), i, i+1), poolChange{Before: auditOf(cur[i])}, nil
	})
}

// ReorderPools gives the named pools priorities 0, 1, 2, ... in the order given.
func (b backend) ReorderPools(ctx context.Context, actor string, names []string) error {
	return b.editPools(ctx, actor, KindPoolReorder, "", func(cur []proxy.PoolConfig) ([]proxy.PoolConfig, poolChange, error) {
		if len(names) != len(cur) {
			return nil, poolChange{}, opErr(console.ErrInvalid, fmt.Sprintf("names: give each of the %d pools once", len(cur)))
		}
		next := make([]proxy.PoolConfig, 0, len(cur))
		var change poolChange
		for prio, n := range names {
			i := findPool(cur, n)
			if i < 0 {
				return nil, poolChange{}, notFound(n)
			}
			pc := cur[i]
			change.Order = append(change.Order, poolOrder{Name: n, Before: pc.Priority, After: prio})
			pc.Priority = prio
			next = append(next, pc)
		}
		return next, change, nil
	})
}

// SwitchPool and ClearPoolSwitch change no configuration: they are audited (a failed
// attempt is not) but not kept across a restart.
func (b backend) SwitchPool(ctx context.Context, actor, name string) error {
	err := b.a.Proxy.ForcePool(name)
	switch {
	case errors.Is(err, proxy.ErrPoolNotFound):
		return notFound(name)
	case errors.Is(err, proxy.ErrPoolDown):
		return opErr(console.ErrConflict, err.Error())
	case err != nil:
		return err
	}
	return b.auditSwitch(ctx, actor, KindPoolSwitch, name)
}

func (b backend) ClearPoolSwitch(ctx context.Context, actor, name string) error {
	if !b.a.Proxy.ClearForcedPool(name) {
		return opErr(console.ErrNotFound, fmt.Sprintf("the miners are not switched to pool %q", name))
	}
	return b.auditSwitch(ctx, actor, KindPoolSwitchClear, name)
}

func (b backend) auditSwitch(ctx context.Context, actor, kind, name string) error {
	_, err := b.a.Store.RecordEvent(ctx, store.Event{Time: time.Now(), Kind: kind, Subject: name, Actor: actor})
	return err
}

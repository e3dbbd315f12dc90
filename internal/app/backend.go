package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// backend is what the console reads and steers: snapshots from the proxy and the power
// controller (policy runner, meters, firmware), the store's audit trail, and the operator
// controls, which the power controller records in the store with the actor who used them.
type backend struct{ a *App }

var (
	_ console.Backend       = backend{}
	_ console.ClusterReader = backend{}
)

// Status is the proxy's summary, with the power controller's and the alert webhooks' queue
// drops among its drops.
func (b backend) Status() proxy.Status {
	st := b.a.Proxy.Status()
	drops := make(map[string]uint64, len(st.Drops)+1)
	maps.Copy(drops, st.Drops)
	maps.Copy(drops, b.a.Power.Drops())
	maps.Copy(drops, b.a.Alerts.Drops())
	st.Drops = drops
	return st
}

func (b backend) Workers() []proxy.WorkerStats { return b.a.Proxy.Workers() }
func (b backend) Pools() []proxy.PoolStats     { return b.a.Proxy.Pools() }
func (b backend) Fleet() []policy.FleetGroup   { return b.a.cfg.Fleet }

// Policy is the local policy runner's snapshot; clustered, the site runner's while this
// instance leads (a follower's policy view says where it runs instead: console.SitePolicy).
func (b backend) Policy() (policy.Snapshot, bool) {
	r := b.a.Power.Runner()
	if r == nil && b.a.Cluster != nil {
		r = b.a.Cluster.Runner()
	}
	if r == nil {
		return policy.Snapshot{}, false
	}
	return r.Snapshot(), true
}

// Cluster is this instance's view of its site, for GET /api/v1/cluster and the
// hashgate_cluster_* gauges.
func (b backend) Cluster() (cluster.Status, bool) {
	if b.a.Cluster == nil {
		return cluster.Status{}, false
	}
	return b.a.Cluster.Status(), true
}

func (b backend) Meters() []console.MeterStatus {
	ms := b.a.Power.MeterStatus()
	if len(ms) == 0 {
		return nil
	}
	out := make([]console.MeterStatus, len(ms))
	for i, m := range ms {
		out[i] = console.MeterStatus{Name: m.Name, Role: m.Role, Kind: m.Kind, Value: m.Value, At: m.At,
			Quality: m.Quality, Stale: m.Stale, Trusted: m.Trusted, Readings: m.Readings}
	}
	return out
}

// Gates are the power controller's holds and proofs in the console's terms.
func (b backend) Gates() map[string]console.WorkerGate { return consoleGates(b.a.Power.Gates()) }

func consoleGates(gs map[string]power.Gate) map[string]console.WorkerGate {
	out := make(map[string]console.WorkerGate, len(gs))
	for id, g := range gs {
		cg := console.WorkerGate{Proof: g.Proof.String()}
		if g.Holds != 0 {
			cg.Holds = console.HoldList(g.Holds.String())
		}
		out[id] = cg
	}
	return out
}

// OfflineWorkers are the power controller's disconnected workers in the console's terms. A
// worker the controller saw connected in this run (it has a group) was last seen when its
// connection closed, unless a share came later.
func (b backend) OfflineWorkers() []console.OfflineWorker {
	off := b.a.Power.Offline()
	out := make([]console.OfflineWorker, 0, len(off))
	for _, o := range off {
		w := console.OfflineWorker{Worker: o.Worker, Group: o.Group, Since: o.Since, LastSeen: o.LastShare}
		if o.Group != "" && o.Since.After(w.LastSeen) {
			w.LastSeen = o.Since
		}
		if o.Holds != 0 {
			w.Holds = console.HoldList(o.Holds.String())
		}
		out = append(out, w)
	}
	return out
}

func (b backend) FirmwareResults() []console.FirmwareResult {
	rs := b.a.Power.FirmwareResults()
	if len(rs) == 0 {
		return nil
	}
	out := make([]console.FirmwareResult, len(rs))
	for i, r := range rs {
		out[i] = console.FirmwareResult{Firmware: r.Firmware, Command: r.Command, Result: r.Result, Count: r.Count}
	}
	return out
}

func (b backend) Decisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error) {
	return b.a.Store.Decisions(ctx, q)
}

func (b backend) Events(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	return b.a.Store.Events(ctx, q)
}

var _ console.EnergyReader = backend{}

// EnergyStore is the store the console's energy reports and CSV exports read.
func (b backend) EnergyStore() (*store.Store, error) {
	if b.a.Store == nil {
		return nil, console.ErrUnavailable
	}
	return b.a.Store, nil
}

// PriceUnit is the unit of the configured price meter (costs are in its currency), "" when
// there is none.
func (b backend) PriceUnit() string {
	for _, m := range b.a.cfg.Meter {
		if m.Role == meter.RolePrice {
			return m.Unit
		}
	}
	return ""
}

func (b backend) Subscribe(capacity int) console.Subscription {
	r := b.a.Power.Runner()
	if r == nil {
		return nil
	}
	return r.Subscribe(capacity)
}

// StoreHealth is the store's write probe, for the console's /readyz.
func (b backend) StoreHealth(ctx context.Context) error { return b.a.Store.Health(ctx) }

var _ console.StoreChecker = backend{}

func (b backend) MeterPush(name string) http.Handler {
	for _, m := range b.a.Power.Meters() {
		if h, ok := m.(http.Handler); ok && m.Name() == name {
			return h
		}
	}
	return nil
}

// The controls are the power controller's, which records each in the audit trail (with the
// actor) before it takes effect; its errors become the console's.
func consoleErr(err error) error {
	switch {
	case errors.Is(err, power.ErrNoPolicy):
		return fmt.Errorf("%w: %w", console.ErrUnavailable, err)
	case errors.Is(err, power.ErrNotFound):
		return fmt.Errorf("%w: %w", console.ErrNotFound, err)
	}
	return err
}

func (b backend) SetCap(ctx context.Context, actor string, kw float64, until time.Time) error {
	return consoleErr(b.a.Power.SetCap(ctx, actor, kw, until))
}

// ClearCap answers ErrNotFound when no operator cap is set: there is nothing to clear, and
// nothing goes into the audit trail.
func (b backend) ClearCap(ctx context.Context, actor string) error {
	if r := b.a.Power.Runner(); r != nil && r.Snapshot().Manual.CapUntil.IsZero() {
		return fmt.Errorf("%w: no operator cap is set", console.ErrNotFound)
	}
	return consoleErr(b.a.Power.ClearCap(ctx, actor))
}

func (b backend) PauseGroup(ctx context.Context, actor, group string) error {
	return consoleErr(b.a.Power.PauseGroup(ctx, actor, group))
}

func (b backend) ResumeGroup(ctx context.Context, actor, group string) error {
	return consoleErr(b.a.Power.ResumeGroup(ctx, actor, group))
}

func (b backend) ScheduleDR(ctx context.Context, actor string, ev policy.DREvent) error {
	return consoleErr(b.a.Power.ScheduleDR(ctx, actor, ev))
}

// CancelDR answers ErrNotFound for an event the runner does not hold, rather than recording
// the cancellation of nothing.
func (b backend) CancelDR(ctx context.Context, actor, id string) error {
	if r := b.a.Power.Runner(); r != nil && !slices.ContainsFunc(r.Snapshot().Manual.DR, func(e policy.DREvent) bool { return e.ID == id }) {
		return fmt.Errorf("%w: no demand-response event %q", console.ErrNotFound, id)
	}
	return consoleErr(b.a.Power.CancelDR(ctx, actor, id))
}

func (b backend) PauseWorker(ctx context.Context, actor, worker string) error {
	return consoleErr(b.a.Power.PauseWorker(ctx, actor, worker))
}

func (b backend) ResumeWorker(ctx context.Context, actor, worker string) error {
	return consoleErr(b.a.Power.ResumeWorker(ctx, actor, worker))
}

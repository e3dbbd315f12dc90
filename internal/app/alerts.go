package app

import (
	"context"

	"github.com/hashgate/hashgate/alert"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
)

// alertSource reads what the alert engine checks from the accessors the console uses: the
// proxy's pools and miners, the power controller's meters and policy step, the store's write
// probe, writer state and counters.
type alertSource struct{ a *App }

var _ alert.Source = alertSource{}

func (s alertSource) Snapshot(ctx context.Context) alert.Snapshot {
	a := s.a
	var snap alert.Snapshot
	for _, p := range a.Proxy.Pools() {
		snap.Pools = append(snap.Pools, alert.Pool{Name: p.Name, Up: p.State == "up", State: p.State, Reason: p.Reason})
	}
	for _, m := range a.Power.MeterStatus() {
		snap.Meters = append(snap.Meters, alert.Meter{Name: m.Name, Role: m.Role.String(), Site: m.Role == policy.RoleSiteImport,
			Stale: m.Stale, LastGood: m.At})
	}
	if r := a.Power.Runner(); r != nil {
		// Before the first step the mode is the zero value, not a decision.
		if b := r.Basis(); !b.At.IsZero() {
			snap.Policy = &alert.Policy{Mode: b.Mode.String(), ImportKW: b.ImportKW, LimitKW: b.LimitKW, BudgetKW: b.BudgetKW,
				Faults: b.Faults.String()}
		}
	}
	snap.Miners = a.Proxy.Status().Miners
	st := a.Store.Stats()
	snap.Store = &alert.Store{ProbeErr: a.Store.Health(ctx), WriteErr: a.Store.WriteState().Err,
		WriteErrors: st.WriteErrors, SharesLost: st.SharesLost}
	return snap
}

// Alerts is the alert engine's latest check, for the console's banner and /api/v1/alerts.
func (b backend) Alerts() alert.Report { return b.a.Alerts.Latest() }

var _ console.AlertReader = backend{}

package power

import (
	"context"
	"encoding/json"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// audit stores the Runner's decisions and events durably, a round at a time (the Runner calls
// it from its own writer, never from the control loop). Every decision is kept twice: in the
// decisions table with the inputs it was taken from (what a restart resumes), and as an event
// named, with subject and detail, exactly as the console's live log shows it.
type audit struct{ st *store.Store }

var _ policy.BatchAudit = audit{}

// NewAudit returns the policy audit trail the Controller gives its Runner, for a Runner built
// elsewhere (tests, tools).
func NewAudit(st *store.Store) policy.BatchAudit { return audit{st} }

func storeDecision(d *policy.Decision) store.Decision {
	inputs, _ := json.Marshal(d.Basis)
	return store.Decision{
		Time: d.Basis.At, MinerID: d.MinerID, Action: d.Action.String(), TargetKW: d.TargetKW,
		ReasonCode: d.Reason.String(), Reason: d.Reason.Text(), Inputs: inputs,
	}
}

// storeEvent is a Runner event as an audit record: the same kind (policy.Event.Name), subject
// and detail the console shows live.
func storeEvent(ev *policy.Event) store.Event {
	return store.Event{Time: ev.At, Kind: ev.Name(), Subject: ev.Subject(), Detail: ev.Detail()}
}

func decisionEvent(d *policy.Decision) policy.Event {
	return policy.Event{At: d.Basis.At, Kind: policy.EventDecision, Decision: *d}
}

func (a audit) RecordDecision(ctx context.Context, d policy.Decision) error {
	ev := decisionEvent(&d)
	return a.st.RecordAudit(ctx, []store.Decision{storeDecision(&d)}, []store.Event{storeEvent(&ev)})
}

func (a audit) RecordEvent(ctx context.Context, ev policy.Event) error {
	if ev.Kind == policy.EventDecision {
		return nil // recorded with its decision
	}
	_, err := a.st.RecordEvent(ctx, storeEvent(&ev))
	return err
}

func (a audit) RecordBatch(ctx context.Context, ds []policy.Decision, evs []policy.Event) error {
	sd := make([]store.Decision, len(ds))
	se := make([]store.Event, 0, len(ds)+len(evs))
	for i := range ds {
		sd[i] = storeDecision(&ds[i])
		ev := decisionEvent(&ds[i])
		se = append(se, storeEvent(&ev))
	}
	for i := range evs {
		if evs[i].Kind != policy.EventDecision {
			se = append(se, storeEvent(&evs[i]))
		}
	}
	return a.st.RecordAudit(ctx, sd, se)
}

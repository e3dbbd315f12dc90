package cluster

import "github.com/hashgate/hashgate/policy"

// Order is one decision of the leader's policy for a miner another instance (or the leader
// itself) owns: a request on hashgate.<site>.cmd.<owner>, answered by a Reply. Epoch is the
// leader's fencing token: the owner refuses an order below the highest epoch it has seen.
type Order struct {
	Epoch  uint64 `json:"epoch"`
	Leader string `json:"leader"`
	// TimeoutMS is how long the owner gives its firmware call, from when the order reaches
	// it; the leader waits a margin longer (replyMargin) for the answer.
	TimeoutMS int64   `json:"timeout_ms"`
	Decision  Decided `json:"decision"`
}

var _ Message = (*Order)(nil)

// Decided is the part of a policy.Decision its owner needs to carry it out (the basis and
// the audit trail stay with the leader).
type Decided struct {
	MinerID  string  `json:"miner"`
	Group    string  `json:"group,omitempty"`
	Action   Action  `json:"action"`
	TargetKW float64 `json:"target_kw"`
	FromKW   float64 `json:"from_kw"`
	Reason   Reason  `json:"reason"`
}

// Reason is a policy.Reason on the wire, by name.
type Reason policy.Reason

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) { return []byte(policy.Reason(r).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; unknown names are refused.
func (r *Reason) UnmarshalText(b []byte) error {
	for x := policy.ReasonNone; x <= policy.ReasonAdopt; x++ {
		if x.String() == string(b) {
			*r = Reason(x)
			return nil
		}
	}
	return badf("unknown reason %q", b)
}

// DecidedOf is d on the wire.
func DecidedOf(d policy.Decision) Decided {
	return Decided{MinerID: d.MinerID, Group: d.Group, Action: Action(d.Action), TargetKW: d.TargetKW, FromKW: d.FromKW, Reason: Reason(d.Reason)}
}

// Decision is the policy decision it carries.
func (d Decided) Decision() policy.Decision {
	return policy.Decision{MinerID: d.MinerID, Group: d.Group, Action: policy.Action(d.Action), TargetKW: d.TargetKW, FromKW: d.FromKW, Reason: policy.Reason(d.Reason)}
}

func (d *Decided) validate() error {
	switch {
	case !idOK(d.MinerID) || len(d.Group) > 256:
		return badf("decision: miner %q", d.MinerID)
	case policy.Action(d.Action) == policy.ActionUnknown:
		return badf("decision %q: no action", d.MinerID)
	case !kwOK(d.TargetKW) || !kwOK(d.FromKW):
		return badf("decision %q: kW %v from %v", d.MinerID, d.TargetKW, d.FromKW)
	}
	return nil
}

// maxOrderTimeout bounds what a peer may ask an owner to wait for.
const maxOrderTimeout = 10 * 60 * 1000

// Validate implements Message.
func (m *Order) Validate() error {
	switch {
	case m.Epoch == 0:
		return badf("order: epoch 0")
	case !name.MatchString(m.Leader):
		return badf("order: leader %q", m.Leader)
	case m.TimeoutMS <= 0 || m.TimeoutMS > maxOrderTimeout:
		return badf("order: timeout_ms %d", m.TimeoutMS)
	}
	return m.Decision.validate()
}

// DecodeOrder parses and checks an order.
func DecodeOrder(b []byte) (*Order, error) {
	var m Order
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

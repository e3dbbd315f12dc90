package cluster

// Plan is one policy step's decisions for the miners one instance owns, sent before any of
// them is ordered, on hashgate.<site>.plan.<owner>: the owner closes the gates of every
// pause at once (policy.Planner). It is not answered; the orders that follow are.
type Plan struct {
	Epoch     uint64    `json:"epoch"`
	Leader    string    `json:"leader"`
	Decisions []Decided `json:"decisions"`
}

var _ Message = (*Plan)(nil)

// Validate implements Message.
func (m *Plan) Validate() error {
	switch {
	case m.Epoch == 0:
		return badf("plan: epoch 0")
	case !name.MatchString(m.Leader):
		return badf("plan: leader %q", m.Leader)
	case len(m.Decisions) > MaxMinersPerMessage:
		return badf("plan: %d decisions, more than %d", len(m.Decisions), MaxMinersPerMessage)
	}
	for i := range m.Decisions {
		if err := m.Decisions[i].validate(); err != nil {
			return err
		}
	}
	return nil
}

// DecodePlan parses and checks a plan.
func DecodePlan(b []byte) (*Plan, error) {
	var m Plan
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

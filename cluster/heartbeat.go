package cluster

// Heartbeat is the leader's announcement, every third of lease_ttl on
// hashgate.<site>.leader, while its lease is valid: followers take it as contact with a
// valid leader and learn the newest epoch from it.
type Heartbeat struct {
	Epoch  uint64 `json:"epoch"`
	Leader string `json:"leader"`
}

var _ Message = (*Heartbeat)(nil)

// Validate implements Message.
func (m *Heartbeat) Validate() error {
	switch {
	case m.Epoch == 0:
		return badf("heartbeat: epoch 0")
	case !name.MatchString(m.Leader):
		return badf("heartbeat: leader %q", m.Leader)
	}
	return nil
}

// DecodeHeartbeat parses and checks a heartbeat.
func DecodeHeartbeat(b []byte) (*Heartbeat, error) {
	var m Heartbeat
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

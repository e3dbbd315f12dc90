package cluster

// Reply answers an Order: Err empty means the owner carried it out and its firmware
// confirmed it. Epoch is the highest epoch the owner has seen, so a fenced-off leader
// learns why it was refused.
type Reply struct {
	Epoch uint64 `json:"epoch"`
	Err   string `json:"err,omitempty"`
}

var _ Message = (*Reply)(nil)

// Validate implements Message.
func (m *Reply) Validate() error {
	if len(m.Err) > 4096 {
		return badf("reply: error of %d bytes", len(m.Err))
	}
	return nil
}

// DecodeReply parses and checks a reply.
func DecodeReply(b []byte) (*Reply, error) {
	var m Reply
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

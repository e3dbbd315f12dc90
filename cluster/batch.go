package cluster

import "unicode/utf8"

// Batch is one policy step's orders for the miners one instance owns, in one request on
// hashgate.<site>.batch.<owner>, answered by one BatchReply. A shed of thousands of miners
// was thousands of requests, each refused "busy" beyond the owner's maxOrders; a batch is
// queued whole at the owner and carried out with the same bounded parallelism.
//
// Epoch fences the whole batch (checked once on arrival); each order's run still re-checks
// it after the firmware answers. Owner must be the instance the subject names. Decisions
// holds at most MaxOrdersPerBatch orders, each for a different miner.
type Batch struct {
	Epoch  uint64 `json:"epoch"`
	Leader string `json:"leader"`
	Owner  string `json:"owner"`
	// TimeoutMS is how long the owner has, from when the batch reaches it, before it answers
	// with the results that have returned and the others as still running; the leader waits
	// a margin longer (replyMargin), so the answer reaches it whatever one firmware does.
	TimeoutMS int64     `json:"timeout_ms"`
	Decisions []Decided `json:"decisions"`
}

var _ Message = (*Batch)(nil)

// MaxOrdersPerBatch caps the orders in one Batch. At the longest miner ids and groups the
// encoding can still pass MaxMessage (or a server's smaller max_payload); the leader then
// splits the batch in two.
const MaxOrdersPerBatch = 1000

// Validate implements Message.
func (m *Batch) Validate() error {
	switch {
	case m.Epoch == 0:
		return badf("batch: epoch 0")
	case !name.MatchString(m.Leader):
		return badf("batch: leader %q", m.Leader)
	case !name.MatchString(m.Owner):
		return badf("batch: owner %q", m.Owner)
	case m.TimeoutMS <= 0 || m.TimeoutMS > maxOrderTimeout:
		return badf("batch: timeout_ms %d", m.TimeoutMS)
	case len(m.Decisions) == 0:
		return badf("batch: no orders")
	case len(m.Decisions) > MaxOrdersPerBatch:
		return badf("batch: %d orders, more than %d", len(m.Decisions), MaxOrdersPerBatch)
	}
	// Two orders for one miner would run at once on it; the leader never sends that.
	seen := make(map[string]struct{}, len(m.Decisions))
	for i := range m.Decisions {
		d := &m.Decisions[i]
		if err := d.validate(); err != nil {
			return err
		}
		if _, dup := seen[d.MinerID]; dup {
			return badf("batch: miner %q ordered twice", d.MinerID)
		}
		seen[d.MinerID] = struct{}{}
	}
	return nil
}

// DecodeBatch parses and checks a batch.
func DecodeBatch(b []byte) (*Batch, error) {
	var m Batch
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// BatchReply answers a Batch. Err set means the batch was refused whole (bad, stale epoch,
// owner's queue full) and Results is empty; otherwise Results holds one Result per order,
// in the batch's order. Epoch is the highest epoch the owner has seen.
type BatchReply struct {
	Epoch   uint64   `json:"epoch"`
	Err     string   `json:"err,omitempty"`
	Results []Result `json:"results,omitempty"`
}

// Result is one order's outcome: Err empty means the owner carried it out and its firmware
// confirmed it.
type Result struct {
	MinerID string `json:"miner"`
	Err     string `json:"err,omitempty"`
}

var _ Message = (*BatchReply)(nil)

// maxResultErr caps one order's error text, so a full batch's reply stays under MaxMessage.
const maxResultErr = 512

// Validate implements Message.
func (m *BatchReply) Validate() error {
	switch {
	case len(m.Err) > 4096:
		return badf("batch reply: error of %d bytes", len(m.Err))
	case m.Err != "" && len(m.Results) > 0:
		return badf("batch reply: refused with %d results", len(m.Results))
	case len(m.Results) > MaxOrdersPerBatch:
		return badf("batch reply: %d results, more than %d", len(m.Results), MaxOrdersPerBatch)
	}
	for _, r := range m.Results {
		if !idOK(r.MinerID) || len(r.Err) > maxResultErr {
			return badf("batch reply: result for %q", r.MinerID)
		}
	}
	return nil
}

// DecodeBatchReply parses and checks a batch reply.
func DecodeBatchReply(b []byte) (*BatchReply, error) {
	var m BatchReply
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// errText is err as an answer's text, cut to limit bytes.
func errText(err error, limit int) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > limit {
		for limit > 0 && !utf8.RuneStart(s[limit]) {
			limit-- // whole runes: JSON would widen a cut one past the limit
		}
		s = s[:limit]
	}
	if s == "" {
		s = "failed"
	}
	return s
}

package sv2

// NewMiningJob (0x15, spec §5.3.15) gives a standard channel a job with a
// ready merkle root. MinNTime unset makes it a future job, kept until a
// SetNewPrevHash names it; set, the job starts at once on the last
// prev_hash. The channel bit is set since spec PR #196 (2026-05).
//
//	channel_id  U32
//	job_id      U32
//	min_ntime   OPTION[U32]
//	version     U32
//	merkle_root U256
type NewMiningJob struct {
	ChannelID  uint32
	JobID      uint32
	MinNTime   Option[uint32]
	Version    uint32
	MerkleRoot U256
}

var _ Message = (*NewMiningJob)(nil)

// ExtensionType implements Message.
func (*NewMiningJob) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*NewMiningJob) MsgType() MsgType { return MsgTypeNewMiningJob }

// ChannelMsg implements Message.
func (*NewMiningJob) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*NewMiningJob) MaxPayloadLength() uint32 { return 4 + 4 + sizeOptU32 + 4 + 32 }

// Encode implements Message.
func (m *NewMiningJob) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.JobID)
	e.optU32(m.MinNTime)
	e.u32(m.Version)
	e.u256(&m.MerkleRoot)
	return e.done()
}

// Decode implements Message.
func (m *NewMiningJob) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = NewMiningJob{
		ChannelID:  d.u32(),
		JobID:      d.u32(),
		MinNTime:   d.optU32(),
		Version:    d.u32(),
		MerkleRoot: d.u256(),
	}
	return d.finish()
}

package sv2

// SetNewPrevHash (0x20, spec §5.3.17) activates the future job JobID on a
// new block: every other job becomes invalid, and MinNTime is where hashing
// starts.
//
//	channel_id U32
//	job_id     U32
//	prev_hash  U256
//	min_ntime  U32
//	nbits      U32
type SetNewPrevHash struct {
	ChannelID uint32
	JobID     uint32
	PrevHash  U256
	MinNTime  uint32
	NBits     uint32
}

var _ Message = (*SetNewPrevHash)(nil)

// ExtensionType implements Message.
func (*SetNewPrevHash) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetNewPrevHash) MsgType() MsgType { return MsgTypeSetNewPrevHash }

// ChannelMsg implements Message.
func (*SetNewPrevHash) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SetNewPrevHash) MaxPayloadLength() uint32 { return 4 + 4 + 32 + 4 + 4 }

// Encode implements Message.
func (m *SetNewPrevHash) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.JobID)
	e.u256(&m.PrevHash)
	e.u32(m.MinNTime)
	e.u32(m.NBits)
	return e.done()
}

// Decode implements Message.
func (m *SetNewPrevHash) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetNewPrevHash{
		ChannelID: d.u32(),
		JobID:     d.u32(),
		PrevHash:  d.u256(),
		MinNTime:  d.u32(),
		NBits:     d.u32(),
	}
	return d.finish()
}

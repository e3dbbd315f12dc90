package sv2

// SubmitSharesSuccess (0x1c, spec §5.3.13) acknowledges a batch of shares
// up to LastSequenceNumber. NewSharesSum is the summed difficulty of the
// shares accepted in this batch only.
//
//	channel_id                 U32
//	last_sequence_number       U32
//	new_submits_accepted_count U32
//	new_shares_sum             U64
type SubmitSharesSuccess struct {
	ChannelID               uint32
	LastSequenceNumber      uint32
	NewSubmitsAcceptedCount uint32
	NewSharesSum            uint64
}

var _ Message = (*SubmitSharesSuccess)(nil)

// ExtensionType implements Message.
func (*SubmitSharesSuccess) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SubmitSharesSuccess) MsgType() MsgType { return MsgTypeSubmitSharesSuccess }

// ChannelMsg implements Message.
func (*SubmitSharesSuccess) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SubmitSharesSuccess) MaxPayloadLength() uint32 { return 4 + 4 + 4 + 8 }

// Encode implements Message.
func (m *SubmitSharesSuccess) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.LastSequenceNumber)
	e.u32(m.NewSubmitsAcceptedCount)
	e.u64(m.NewSharesSum)
	return e.done()
}

// Decode implements Message.
func (m *SubmitSharesSuccess) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SubmitSharesSuccess{
		ChannelID:               d.u32(),
		LastSequenceNumber:      d.u32(),
		NewSubmitsAcceptedCount: d.u32(),
		NewSharesSum:            d.u64(),
	}
	return d.finish()
}

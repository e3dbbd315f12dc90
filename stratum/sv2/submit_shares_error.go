package sv2

// SubmitSharesError (0x1d, spec §5.3.14) rejects one share, immediately.
//
//	channel_id      U32
//	sequence_number U32
//	error_code      STR0_255
type SubmitSharesError struct {
	ChannelID      uint32
	SequenceNumber uint32
	ErrorCode      string
}

var _ Message = (*SubmitSharesError)(nil)

// ExtensionType implements Message.
func (*SubmitSharesError) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SubmitSharesError) MsgType() MsgType { return MsgTypeSubmitSharesError }

// ChannelMsg implements Message.
func (*SubmitSharesError) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SubmitSharesError) MaxPayloadLength() uint32 { return 4 + 4 + sizeStr0255 }

// Encode implements Message.
func (m *SubmitSharesError) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.SequenceNumber)
	e.str0255("error_code", m.ErrorCode)
	return e.done()
}

// Decode implements Message.
func (m *SubmitSharesError) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SubmitSharesError{
		ChannelID:      d.u32(),
		SequenceNumber: d.u32(),
		ErrorCode:      d.str0255("error_code"),
	}
	return d.finish()
}

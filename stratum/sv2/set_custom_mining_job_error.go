package sv2

// SetCustomMiningJobError (0x24, spec §5.3.20) rejects a custom job; the
// client should fall back to another pool or solo mining.
//
//	channel_id U32
//	request_id U32
//	error_code STR0_255
type SetCustomMiningJobError struct {
	ChannelID uint32
	RequestID uint32
	ErrorCode string
}

var _ Message = (*SetCustomMiningJobError)(nil)

// ExtensionType implements Message.
func (*SetCustomMiningJobError) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetCustomMiningJobError) MsgType() MsgType { return MsgTypeSetCustomMiningJobError }

// ChannelMsg implements Message.
func (*SetCustomMiningJobError) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SetCustomMiningJobError) MaxPayloadLength() uint32 { return 4 + 4 + sizeStr0255 }

// Encode implements Message.
func (m *SetCustomMiningJobError) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.RequestID)
	e.str0255("error_code", m.ErrorCode)
	return e.done()
}

// Decode implements Message.
func (m *SetCustomMiningJobError) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetCustomMiningJobError{
		ChannelID: d.u32(),
		RequestID: d.u32(),
		ErrorCode: d.str0255("error_code"),
	}
	return d.finish()
}

package sv2

// UpdateChannelError (0x17, spec §5.3.8) rejects an UpdateChannel.
//
//	channel_id U32
//	error_code STR0_255
type UpdateChannelError struct {
	ChannelID uint32
	ErrorCode string
}

var _ Message = (*UpdateChannelError)(nil)

// ExtensionType implements Message.
func (*UpdateChannelError) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*UpdateChannelError) MsgType() MsgType { return MsgTypeUpdateChannelError }

// ChannelMsg implements Message.
func (*UpdateChannelError) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*UpdateChannelError) MaxPayloadLength() uint32 { return 4 + sizeStr0255 }

// Encode implements Message.
func (m *UpdateChannelError) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.str0255("error_code", m.ErrorCode)
	return e.done()
}

// Decode implements Message.
func (m *UpdateChannelError) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = UpdateChannelError{
		ChannelID: d.u32(),
		ErrorCode: d.str0255("error_code"),
	}
	return d.finish()
}

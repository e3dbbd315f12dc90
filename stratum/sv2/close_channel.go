package sv2

// CloseChannel (0x18, spec §5.3.9) closes a channel, or every member of a
// group when ChannelID is a group id; either side may send it.
//
//	channel_id  U32
//	reason_code STR0_255
type CloseChannel struct {
	ChannelID  uint32
	ReasonCode string
}

var _ Message = (*CloseChannel)(nil)

// ExtensionType implements Message.
func (*CloseChannel) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*CloseChannel) MsgType() MsgType { return MsgTypeCloseChannel }

// ChannelMsg implements Message.
func (*CloseChannel) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*CloseChannel) MaxPayloadLength() uint32 { return 4 + sizeStr0255 }

// Encode implements Message.
func (m *CloseChannel) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.str0255("reason_code", m.ReasonCode)
	return e.done()
}

// Decode implements Message.
func (m *CloseChannel) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = CloseChannel{
		ChannelID:  d.u32(),
		ReasonCode: d.str0255("reason_code"),
	}
	return d.finish()
}

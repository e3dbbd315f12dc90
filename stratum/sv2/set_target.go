package sv2

// SetTarget (0x21, spec §5.3.21) changes a channel's (or a group's) share
// target for future jobs; it is the only way to change difficulty in SV2.
//
//	channel_id     U32
//	maximum_target U256
type SetTarget struct {
	ChannelID     uint32
	MaximumTarget U256
}

var _ Message = (*SetTarget)(nil)

// ExtensionType implements Message.
func (*SetTarget) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetTarget) MsgType() MsgType { return MsgTypeSetTarget }

// ChannelMsg implements Message.
func (*SetTarget) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SetTarget) MaxPayloadLength() uint32 { return 4 + 32 }

// Encode implements Message.
func (m *SetTarget) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u256(&m.MaximumTarget)
	return e.done()
}

// Decode implements Message.
func (m *SetTarget) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetTarget{
		ChannelID:     d.u32(),
		MaximumTarget: d.u256(),
	}
	return d.finish()
}

package sv2

// ChannelEndpointChanged (0x03, spec §3.6.4) tells the client that a proxy
// re-pointed a channel to another endpoint, so any state kept for unknown
// extension messages on that channel must be reset.
//
//	channel_id U32
type ChannelEndpointChanged struct {
	ChannelID uint32
}

var _ Message = (*ChannelEndpointChanged)(nil)

// ExtensionType implements Message.
func (*ChannelEndpointChanged) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*ChannelEndpointChanged) MsgType() MsgType { return MsgTypeChannelEndpointChanged }

// ChannelMsg implements Message.
func (*ChannelEndpointChanged) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*ChannelEndpointChanged) MaxPayloadLength() uint32 { return 4 }

// Encode implements Message.
func (m *ChannelEndpointChanged) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	return e.done()
}

// Decode implements Message.
func (m *ChannelEndpointChanged) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = ChannelEndpointChanged{
		ChannelID: d.u32(),
	}
	return d.finish()
}

package sv2

// UpdateChannel (0x16, spec §5.3.7) reports a channel's new nominal
// hashrate and maximum target; a proxy sends it as its downstream hashrate
// changes.
//
//	channel_id        U32
//	nominal_hash_rate F32
//	maximum_target    U256
type UpdateChannel struct {
	ChannelID       uint32
	NominalHashRate float32
	MaximumTarget   U256
}

var _ Message = (*UpdateChannel)(nil)

// ExtensionType implements Message.
func (*UpdateChannel) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*UpdateChannel) MsgType() MsgType { return MsgTypeUpdateChannel }

// ChannelMsg implements Message.
func (*UpdateChannel) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*UpdateChannel) MaxPayloadLength() uint32 { return 4 + 4 + 32 }

// Encode implements Message.
func (m *UpdateChannel) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.f32(m.NominalHashRate)
	e.u256(&m.MaximumTarget)
	return e.done()
}

// Decode implements Message.
func (m *UpdateChannel) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = UpdateChannel{
		ChannelID:       d.u32(),
		NominalHashRate: d.f32(),
		MaximumTarget:   d.u256(),
	}
	return d.finish()
}

package sv2

// OpenStandardMiningChannelSuccess (0x11, spec §5.3.3) assigns the channel
// id, its target and its extranonce prefix, which for a standard channel is
// the whole extranonce. GroupChannelID names the group the channel joined.
//
//	request_id        U32
//	channel_id        U32
//	target            U256
//	extranonce_prefix B0_32
//	group_channel_id  U32
type OpenStandardMiningChannelSuccess struct {
	RequestID        uint32
	ChannelID        uint32
	Target           U256
	ExtranoncePrefix []byte
	GroupChannelID   uint32
}

var _ Message = (*OpenStandardMiningChannelSuccess)(nil)

// ExtensionType implements Message.
func (*OpenStandardMiningChannelSuccess) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*OpenStandardMiningChannelSuccess) MsgType() MsgType {
	return MsgTypeOpenStandardMiningChannelSuccess
}

// ChannelMsg implements Message.
func (*OpenStandardMiningChannelSuccess) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*OpenStandardMiningChannelSuccess) MaxPayloadLength() uint32 { return 4 + 4 + 32 + sizeB032 + 4 }

// Encode implements Message.
func (m *OpenStandardMiningChannelSuccess) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.RequestID)
	e.u32(m.ChannelID)
	e.u256(&m.Target)
	e.b032("extranonce_prefix", m.ExtranoncePrefix)
	e.u32(m.GroupChannelID)
	return e.done()
}

// Decode implements Message.
func (m *OpenStandardMiningChannelSuccess) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = OpenStandardMiningChannelSuccess{
		RequestID:        d.u32(),
		ChannelID:        d.u32(),
		Target:           d.u256(),
		ExtranoncePrefix: d.b032("extranonce_prefix"),
		GroupChannelID:   d.u32(),
	}
	return d.finish()
}

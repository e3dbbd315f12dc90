package sv2

// SetExtranoncePrefix (0x19, spec §5.3.10) replaces a standard or extended
// channel's extranonce prefix for jobs sent after it; jobs already issued
// keep the old one.
//
//	channel_id        U32
//	extranonce_prefix B0_32
type SetExtranoncePrefix struct {
	ChannelID        uint32
	ExtranoncePrefix []byte
}

var _ Message = (*SetExtranoncePrefix)(nil)

// ExtensionType implements Message.
func (*SetExtranoncePrefix) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetExtranoncePrefix) MsgType() MsgType { return MsgTypeSetExtranoncePrefix }

// ChannelMsg implements Message.
func (*SetExtranoncePrefix) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SetExtranoncePrefix) MaxPayloadLength() uint32 { return 4 + sizeB032 }

// Encode implements Message.
func (m *SetExtranoncePrefix) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.b032("extranonce_prefix", m.ExtranoncePrefix)
	return e.done()
}

// Decode implements Message.
func (m *SetExtranoncePrefix) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetExtranoncePrefix{
		ChannelID:        d.u32(),
		ExtranoncePrefix: d.b032("extranonce_prefix"),
	}
	return d.finish()
}

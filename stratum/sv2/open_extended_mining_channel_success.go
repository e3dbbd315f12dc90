package sv2

// OpenExtendedMiningChannelSuccess (0x14, spec §5.3.5) assigns an extended
// channel its id, target and extranonce split: ExtranoncePrefix is fixed
// upstream and the client owns ExtranonceSize further bytes, which it must
// send in full in every SubmitSharesExtended.
//
//	request_id        U32
//	channel_id        U32
//	target            U256
//	extranonce_size   U16
//	extranonce_prefix B0_32
//	group_channel_id  U32 (since spec PR #162, 2025-12)
//
// group_channel_id is read only when present, because peers older than
// SRI mining_sv2 7.0.0 end the message after extranonce_prefix.
type OpenExtendedMiningChannelSuccess struct {
	RequestID        uint32
	ChannelID        uint32
	Target           U256
	ExtranonceSize   uint16
	ExtranoncePrefix []byte
	GroupChannelID   uint32
	// OmitGroupChannelID selects the pre-2025-12 layout without
	// group_channel_id, for peers that predate it. Decode sets it when the
	// field is absent.
	OmitGroupChannelID bool
}

var _ Message = (*OpenExtendedMiningChannelSuccess)(nil)

// ExtensionType implements Message.
func (*OpenExtendedMiningChannelSuccess) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*OpenExtendedMiningChannelSuccess) MsgType() MsgType {
	return MsgTypeOpenExtendedMiningChannelSuccess
}

// ChannelMsg implements Message.
func (*OpenExtendedMiningChannelSuccess) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*OpenExtendedMiningChannelSuccess) MaxPayloadLength() uint32 {
	return 4 + 4 + 32 + 2 + sizeB032 + 4
}

// Encode implements Message.
func (m *OpenExtendedMiningChannelSuccess) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.RequestID)
	e.u32(m.ChannelID)
	e.u256(&m.Target)
	e.u16(m.ExtranonceSize)
	e.b032("extranonce_prefix", m.ExtranoncePrefix)
	if !m.OmitGroupChannelID {
		e.u32(m.GroupChannelID)
	}
	return e.done()
}

// Decode implements Message.
func (m *OpenExtendedMiningChannelSuccess) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = OpenExtendedMiningChannelSuccess{
		RequestID:        d.u32(),
		ChannelID:        d.u32(),
		Target:           d.u256(),
		ExtranonceSize:   d.u16(),
		ExtranoncePrefix: d.b032("extranonce_prefix"),
	}
	if d.err == nil && d.remaining() == 0 {
		m.OmitGroupChannelID = true
	} else {
		m.GroupChannelID = d.u32()
	}
	return d.finish()
}

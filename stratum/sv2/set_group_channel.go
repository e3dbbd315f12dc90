package sv2

// SetGroupChannel (0x25, spec §5.3.22; 0x26 before spec PR #72) makes
// GroupChannelID the group of ChannelIDs, so one job, prev hash or target
// sent to the group reaches them all.
//
//	group_channel_id U32
//	channel_ids      SEQ0_64K[U32]
type SetGroupChannel struct {
	GroupChannelID uint32
	ChannelIDs     []uint32
}

var _ Message = (*SetGroupChannel)(nil)

// ExtensionType implements Message.
func (*SetGroupChannel) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetGroupChannel) MsgType() MsgType { return MsgTypeSetGroupChannel }

// ChannelMsg implements Message.
func (*SetGroupChannel) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*SetGroupChannel) MaxPayloadLength() uint32 { return 4 + (2 + MaxSeq064K*4) }

// Encode implements Message.
func (m *SetGroupChannel) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.GroupChannelID)
	e.seq064KU32("channel_ids", m.ChannelIDs)
	return e.done()
}

// Decode implements Message.
func (m *SetGroupChannel) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetGroupChannel{
		GroupChannelID: d.u32(),
		ChannelIDs:     d.seq064KU32("channel_ids"),
	}
	return d.finish()
}

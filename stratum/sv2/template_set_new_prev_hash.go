package sv2

// TemplateSetNewPrevHash is the Template Distribution SetNewPrevHash (0x72,
// spec §7.3), named apart from the Mining one: it activates a future
// template on a new block and carries the network target.
//
//	template_id      U64
//	prev_hash        U256
//	header_timestamp U32
//	nbits            U32
//	target           U256
type TemplateSetNewPrevHash struct {
	TemplateID      uint64
	PrevHash        U256
	HeaderTimestamp uint32
	NBits           uint32
	Target          U256
}

var _ Message = (*TemplateSetNewPrevHash)(nil)

// ExtensionType implements Message.
func (*TemplateSetNewPrevHash) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*TemplateSetNewPrevHash) MsgType() MsgType { return MsgTypeTemplateSetNewPrevHash }

// ChannelMsg implements Message.
func (*TemplateSetNewPrevHash) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*TemplateSetNewPrevHash) MaxPayloadLength() uint32 { return 8 + 32 + 4 + 4 + 32 }

// Encode implements Message.
func (m *TemplateSetNewPrevHash) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u64(m.TemplateID)
	e.u256(&m.PrevHash)
	e.u32(m.HeaderTimestamp)
	e.u32(m.NBits)
	e.u256(&m.Target)
	return e.done()
}

// Decode implements Message.
func (m *TemplateSetNewPrevHash) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = TemplateSetNewPrevHash{
		TemplateID:      d.u64(),
		PrevHash:        d.u256(),
		HeaderTimestamp: d.u32(),
		NBits:           d.u32(),
		Target:          d.u256(),
	}
	return d.finish()
}

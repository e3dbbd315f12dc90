package sv2

// SubmitSolution (0x76, spec §7.7) sends a block solution to the Template
// Provider; CoinbaseTx is the full witness serialization.
//
//	template_id      U64
//	version          U32
//	header_timestamp U32
//	header_nonce     U32
//	coinbase_tx      B0_64K
type SubmitSolution struct {
	TemplateID      uint64
	Version         uint32
	HeaderTimestamp uint32
	HeaderNonce     uint32
	CoinbaseTx      []byte
}

var _ Message = (*SubmitSolution)(nil)

// ExtensionType implements Message.
func (*SubmitSolution) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SubmitSolution) MsgType() MsgType { return MsgTypeSubmitSolution }

// ChannelMsg implements Message.
func (*SubmitSolution) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*SubmitSolution) MaxPayloadLength() uint32 { return 8 + 4 + 4 + 4 + sizeB064K }

// Encode implements Message.
func (m *SubmitSolution) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u64(m.TemplateID)
	e.u32(m.Version)
	e.u32(m.HeaderTimestamp)
	e.u32(m.HeaderNonce)
	e.b064K("coinbase_tx", m.CoinbaseTx)
	return e.done()
}

// Decode implements Message.
func (m *SubmitSolution) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SubmitSolution{
		TemplateID:      d.u64(),
		Version:         d.u32(),
		HeaderTimestamp: d.u32(),
		HeaderNonce:     d.u32(),
		CoinbaseTx:      d.b064K("coinbase_tx"),
	}
	return d.finish()
}

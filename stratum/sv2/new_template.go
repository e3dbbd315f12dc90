package sv2

// NewTemplate (0x71, spec §7.2) is a block template from the Template
// Provider. CoinbaseTxOutputs is the concatenation of serialized outputs
// (no leading count; CoinbaseTxOutputsCount holds it) and includes the
// witness commitment.
//
//	template_id                 U64
//	future_template             BOOL
//	version                     U32
//	coinbase_tx_version         U32
//	coinbase_prefix             B0_255
//	coinbase_tx_input_sequence  U32
//	coinbase_tx_value_remaining U64
//	coinbase_tx_outputs_count   U32
//	coinbase_tx_outputs         B0_64K
//	coinbase_tx_locktime        U32
//	merkle_path                 SEQ0_255[U256]
type NewTemplate struct {
	TemplateID               uint64
	FutureTemplate           bool
	Version                  uint32
	CoinbaseTxVersion        uint32
	CoinbasePrefix           []byte
	CoinbaseTxInputSequence  uint32
	CoinbaseTxValueRemaining uint64
	CoinbaseTxOutputsCount   uint32
	CoinbaseTxOutputs        []byte
	CoinbaseTxLocktime       uint32
	MerklePath               []U256
}

var _ Message = (*NewTemplate)(nil)

// ExtensionType implements Message.
func (*NewTemplate) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*NewTemplate) MsgType() MsgType { return MsgTypeNewTemplate }

// ChannelMsg implements Message.
func (*NewTemplate) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*NewTemplate) MaxPayloadLength() uint32 {
	return 8 + 1 + 4 + 4 + sizeB0255 + 4 + 8 + 4 + sizeB064K + 4 + sizeSeq0255U256
}

// Encode implements Message.
func (m *NewTemplate) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u64(m.TemplateID)
	e.boolean(m.FutureTemplate)
	e.u32(m.Version)
	e.u32(m.CoinbaseTxVersion)
	e.b0255("coinbase_prefix", m.CoinbasePrefix)
	e.u32(m.CoinbaseTxInputSequence)
	e.u64(m.CoinbaseTxValueRemaining)
	e.u32(m.CoinbaseTxOutputsCount)
	e.b064K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	e.u32(m.CoinbaseTxLocktime)
	e.seq0255U256("merkle_path", m.MerklePath)
	return e.done()
}

// Decode implements Message.
func (m *NewTemplate) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = NewTemplate{
		TemplateID:               d.u64(),
		FutureTemplate:           d.boolean(),
		Version:                  d.u32(),
		CoinbaseTxVersion:        d.u32(),
		CoinbasePrefix:           d.b0255("coinbase_prefix"),
		CoinbaseTxInputSequence:  d.u32(),
		CoinbaseTxValueRemaining: d.u64(),
		CoinbaseTxOutputsCount:   d.u32(),
		CoinbaseTxOutputs:        d.b064K("coinbase_tx_outputs"),
		CoinbaseTxLocktime:       d.u32(),
		MerklePath:               d.seq0255U256("merkle_path"),
	}
	return d.finish()
}

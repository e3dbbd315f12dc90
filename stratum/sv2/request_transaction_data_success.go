package sv2

// RequestTransactionDataSuccess (0x74, spec §7.5) carries a template's
// transactions (serialized, B0_16M each). It is the one message whose
// maximum is the full U24 frame length.
//
//	template_id      U64
//	excess_data      B0_64K
//	transaction_list SEQ0_64K[B0_16M]
type RequestTransactionDataSuccess struct {
	TemplateID      uint64
	ExcessData      []byte
	TransactionList [][]byte
}

var _ Message = (*RequestTransactionDataSuccess)(nil)

// ExtensionType implements Message.
func (*RequestTransactionDataSuccess) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*RequestTransactionDataSuccess) MsgType() MsgType { return MsgTypeRequestTransactionDataSuccess }

// ChannelMsg implements Message.
func (*RequestTransactionDataSuccess) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*RequestTransactionDataSuccess) MaxPayloadLength() uint32 {
	return min(8+sizeB064K+MaxFrameLength, MaxFrameLength)
}

// Encode implements Message.
func (m *RequestTransactionDataSuccess) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u64(m.TemplateID)
	e.b064K("excess_data", m.ExcessData)
	e.seq064KB016M("transaction_list", m.TransactionList)
	return e.done()
}

// Decode implements Message.
func (m *RequestTransactionDataSuccess) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = RequestTransactionDataSuccess{
		TemplateID:      d.u64(),
		ExcessData:      d.b064K("excess_data"),
		TransactionList: d.seq064KB016M("transaction_list"),
	}
	return d.finish()
}

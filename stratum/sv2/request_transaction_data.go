package sv2

// RequestTransactionData (0x73, spec §7.4) asks for the transactions of a
// template.
//
//	template_id U64
type RequestTransactionData struct {
	TemplateID uint64
}

var _ Message = (*RequestTransactionData)(nil)

// ExtensionType implements Message.
func (*RequestTransactionData) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*RequestTransactionData) MsgType() MsgType { return MsgTypeRequestTransactionData }

// ChannelMsg implements Message.
func (*RequestTransactionData) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*RequestTransactionData) MaxPayloadLength() uint32 { return 8 }

// Encode implements Message.
func (m *RequestTransactionData) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u64(m.TemplateID)
	return e.done()
}

// Decode implements Message.
func (m *RequestTransactionData) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = RequestTransactionData{
		TemplateID: d.u64(),
	}
	return d.finish()
}

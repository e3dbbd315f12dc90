package sv2

// RequestTransactionDataError (0x75, spec §7.6) refuses a transaction-data
// request, for example for a stale template.
//
//	template_id U64
//	error_code  STR0_255
type RequestTransactionDataError struct {
	TemplateID uint64
	ErrorCode  string
}

var _ Message = (*RequestTransactionDataError)(nil)

// ExtensionType implements Message.
func (*RequestTransactionDataError) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*RequestTransactionDataError) MsgType() MsgType { return MsgTypeRequestTransactionDataError }

// ChannelMsg implements Message.
func (*RequestTransactionDataError) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*RequestTransactionDataError) MaxPayloadLength() uint32 { return 8 + sizeStr0255 }

// Encode implements Message.
func (m *RequestTransactionDataError) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u64(m.TemplateID)
	e.str0255("error_code", m.ErrorCode)
	return e.done()
}

// Decode implements Message.
func (m *RequestTransactionDataError) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = RequestTransactionDataError{
		TemplateID: d.u64(),
		ErrorCode:  d.str0255("error_code"),
	}
	return d.finish()
}

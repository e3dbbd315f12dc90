package sv2

// RequestExtensionsError (extension 0x0001, type 0x02) lists the requested
// extensions the server does not support and those it requires.
//
//	request_id             U16
//	unsupported_extensions SEQ0_64K[U16]
//	required_extensions    SEQ0_64K[U16]
type RequestExtensionsError struct {
	RequestID             uint16
	UnsupportedExtensions []uint16
	RequiredExtensions    []uint16
}

var _ Message = (*RequestExtensionsError)(nil)

// ExtensionType implements Message.
func (*RequestExtensionsError) ExtensionType() uint16 { return ExtensionNegotiation }

// MsgType implements Message.
func (*RequestExtensionsError) MsgType() MsgType { return MsgTypeRequestExtensionsError }

// ChannelMsg implements Message.
func (*RequestExtensionsError) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*RequestExtensionsError) MaxPayloadLength() uint32 {
	return 2 + (2 + MaxSeq064K*2) + (2 + MaxSeq064K*2)
}

// Encode implements Message.
func (m *RequestExtensionsError) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u16(m.RequestID)
	e.seq064KU16("unsupported_extensions", m.UnsupportedExtensions)
	e.seq064KU16("required_extensions", m.RequiredExtensions)
	return e.done()
}

// Decode implements Message.
func (m *RequestExtensionsError) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = RequestExtensionsError{
		RequestID:             d.u16(),
		UnsupportedExtensions: d.seq064KU16("unsupported_extensions"),
		RequiredExtensions:    d.seq064KU16("required_extensions"),
	}
	return d.finish()
}

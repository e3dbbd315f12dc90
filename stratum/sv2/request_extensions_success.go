package sv2

// RequestExtensionsSuccess (extension 0x0001, type 0x01) lists the
// requested extensions the server supports.
//
//	request_id           U16
//	supported_extensions SEQ0_64K[U16]
type RequestExtensionsSuccess struct {
	RequestID           uint16
	SupportedExtensions []uint16
}

var _ Message = (*RequestExtensionsSuccess)(nil)

// ExtensionType implements Message.
func (*RequestExtensionsSuccess) ExtensionType() uint16 { return ExtensionNegotiation }

// MsgType implements Message.
func (*RequestExtensionsSuccess) MsgType() MsgType { return MsgTypeRequestExtensionsSuccess }

// ChannelMsg implements Message.
func (*RequestExtensionsSuccess) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*RequestExtensionsSuccess) MaxPayloadLength() uint32 { return 2 + (2 + MaxSeq064K*2) }

// Encode implements Message.
func (m *RequestExtensionsSuccess) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u16(m.RequestID)
	e.seq064KU16("supported_extensions", m.SupportedExtensions)
	return e.done()
}

// Decode implements Message.
func (m *RequestExtensionsSuccess) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = RequestExtensionsSuccess{
		RequestID:           d.u16(),
		SupportedExtensions: d.seq064KU16("supported_extensions"),
	}
	return d.finish()
}

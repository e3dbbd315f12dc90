package sv2

// RequestExtensions (extension 0x0001, type 0x00) is sent right after
// SetupConnection.Success to negotiate optional extensions. A server that
// does not implement 0x0001 ignores it, so the client needs a timeout.
//
//	request_id           U16
//	requested_extensions SEQ0_64K[U16]
type RequestExtensions struct {
	RequestID           uint16
	RequestedExtensions []uint16
}

var _ Message = (*RequestExtensions)(nil)

// ExtensionType implements Message.
func (*RequestExtensions) ExtensionType() uint16 { return ExtensionNegotiation }

// MsgType implements Message.
func (*RequestExtensions) MsgType() MsgType { return MsgTypeRequestExtensions }

// ChannelMsg implements Message.
func (*RequestExtensions) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*RequestExtensions) MaxPayloadLength() uint32 { return 2 + (2 + MaxSeq064K*2) }

// Encode implements Message.
func (m *RequestExtensions) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u16(m.RequestID)
	e.seq064KU16("requested_extensions", m.RequestedExtensions)
	return e.done()
}

// Decode implements Message.
func (m *RequestExtensions) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = RequestExtensions{
		RequestID:           d.u16(),
		RequestedExtensions: d.seq064KU16("requested_extensions"),
	}
	return d.finish()
}

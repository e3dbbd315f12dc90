package sv2

// OpenMiningChannelError (0x12, spec §5.3.6) rejects either kind of
// channel open, matched by RequestID.
//
//	request_id U32
//	error_code STR0_255
type OpenMiningChannelError struct {
	RequestID uint32
	ErrorCode string
}

var _ Message = (*OpenMiningChannelError)(nil)

// ExtensionType implements Message.
func (*OpenMiningChannelError) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*OpenMiningChannelError) MsgType() MsgType { return MsgTypeOpenMiningChannelError }

// ChannelMsg implements Message.
func (*OpenMiningChannelError) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*OpenMiningChannelError) MaxPayloadLength() uint32 { return 4 + sizeStr0255 }

// Encode implements Message.
func (m *OpenMiningChannelError) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.RequestID)
	e.str0255("error_code", m.ErrorCode)
	return e.done()
}

// Decode implements Message.
func (m *OpenMiningChannelError) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = OpenMiningChannelError{
		RequestID: d.u32(),
		ErrorCode: d.str0255("error_code"),
	}
	return d.finish()
}

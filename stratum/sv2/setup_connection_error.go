package sv2

// SetupConnectionError (0x02, spec §3.6.3) rejects a SetupConnection. Flags
// lists exactly the requested flags the server does not support (0 when the
// error has another cause), which lets a client probe features.
//
//	flags      U32
//	error_code STR0_255
type SetupConnectionError struct {
	Flags     uint32
	ErrorCode string
}

var _ Message = (*SetupConnectionError)(nil)

// ExtensionType implements Message.
func (*SetupConnectionError) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetupConnectionError) MsgType() MsgType { return MsgTypeSetupConnectionError }

// ChannelMsg implements Message.
func (*SetupConnectionError) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*SetupConnectionError) MaxPayloadLength() uint32 { return 4 + sizeStr0255 }

// Encode implements Message.
func (m *SetupConnectionError) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.Flags)
	e.str0255("error_code", m.ErrorCode)
	return e.done()
}

// Decode implements Message.
func (m *SetupConnectionError) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetupConnectionError{
		Flags:     d.u32(),
		ErrorCode: d.str0255("error_code"),
	}
	return d.finish()
}

package sv2

// SetupConnectionSuccess (0x01, spec §3.6.2) accepts a SetupConnection;
// UsedVersion lies within the client's range and Flags are the server's
// (for Mining: SuccessFlagRequiresFixedVersion, ...RequiresExtendedChannels).
//
//	used_version U16
//	flags        U32
type SetupConnectionSuccess struct {
	UsedVersion uint16
	Flags       uint32
}

var _ Message = (*SetupConnectionSuccess)(nil)

// ExtensionType implements Message.
func (*SetupConnectionSuccess) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetupConnectionSuccess) MsgType() MsgType { return MsgTypeSetupConnectionSuccess }

// ChannelMsg implements Message.
func (*SetupConnectionSuccess) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*SetupConnectionSuccess) MaxPayloadLength() uint32 { return 2 + 4 }

// Encode implements Message.
func (m *SetupConnectionSuccess) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u16(m.UsedVersion)
	e.u32(m.Flags)
	return e.done()
}

// Decode implements Message.
func (m *SetupConnectionSuccess) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetupConnectionSuccess{
		UsedVersion: d.u16(),
		Flags:       d.u32(),
	}
	return d.finish()
}

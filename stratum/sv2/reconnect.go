package sv2

// Reconnect (0x04, spec §3.6.5; Mining 0x25 before spec PR #72) asks the
// client to reconnect elsewhere. An empty NewHost means the same host and a
// zero NewPort the same port; the new server must present a certificate
// from the same authority key.
//
//	new_host STR0_255
//	new_port U16
type Reconnect struct {
	NewHost string
	NewPort uint16
}

var _ Message = (*Reconnect)(nil)

// ExtensionType implements Message.
func (*Reconnect) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*Reconnect) MsgType() MsgType { return MsgTypeReconnect }

// ChannelMsg implements Message.
func (*Reconnect) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*Reconnect) MaxPayloadLength() uint32 { return sizeStr0255 + 2 }

// Encode implements Message.
func (m *Reconnect) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.str0255("new_host", m.NewHost)
	e.u16(m.NewPort)
	return e.done()
}

// Decode implements Message.
func (m *Reconnect) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = Reconnect{
		NewHost: d.str0255("new_host"),
		NewPort: d.u16(),
	}
	return d.finish()
}

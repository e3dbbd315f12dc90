package sv2

// OpenStandardMiningChannel (0x10, spec §5.3.2) opens a header-only
// channel, the kind end devices use. NominalHashRate (h/s) and MaxTarget,
// the easiest target the device can handle, guide the server's first
// target.
//
//	request_id        U32
//	user_identity     STR0_255
//	nominal_hash_rate F32
//	max_target        U256
type OpenStandardMiningChannel struct {
	RequestID       uint32
	UserIdentity    string
	NominalHashRate float32
	MaxTarget       U256
}

var _ Message = (*OpenStandardMiningChannel)(nil)

// ExtensionType implements Message.
func (*OpenStandardMiningChannel) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*OpenStandardMiningChannel) MsgType() MsgType { return MsgTypeOpenStandardMiningChannel }

// ChannelMsg implements Message.
func (*OpenStandardMiningChannel) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*OpenStandardMiningChannel) MaxPayloadLength() uint32 { return 4 + sizeStr0255 + 4 + 32 }

// Encode implements Message.
func (m *OpenStandardMiningChannel) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.RequestID)
	e.str0255("user_identity", m.UserIdentity)
	e.f32(m.NominalHashRate)
	e.u256(&m.MaxTarget)
	return e.done()
}

// Decode implements Message.
func (m *OpenStandardMiningChannel) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = OpenStandardMiningChannel{
		RequestID:       d.u32(),
		UserIdentity:    d.str0255("user_identity"),
		NominalHashRate: d.f32(),
		MaxTarget:       d.u256(),
	}
	return d.finish()
}

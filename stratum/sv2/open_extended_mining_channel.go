package sv2

// OpenExtendedMiningChannel (0x13, spec §5.3.4) opens a channel that
// receives coinbase parts and builds its own merkle roots, the kind proxies
// use. MinExtranonceSize is the number of extranonce bytes the client
// needs for itself and its downstreams.
//
//	request_id          U32
//	user_identity       STR0_255
//	nominal_hash_rate   F32
//	max_target          U256
//	min_extranonce_size U16
type OpenExtendedMiningChannel struct {
	RequestID         uint32
	UserIdentity      string
	NominalHashRate   float32
	MaxTarget         U256
	MinExtranonceSize uint16
}

var _ Message = (*OpenExtendedMiningChannel)(nil)

// ExtensionType implements Message.
func (*OpenExtendedMiningChannel) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*OpenExtendedMiningChannel) MsgType() MsgType { return MsgTypeOpenExtendedMiningChannel }

// ChannelMsg implements Message.
func (*OpenExtendedMiningChannel) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*OpenExtendedMiningChannel) MaxPayloadLength() uint32 { return 4 + sizeStr0255 + 4 + 32 + 2 }

// Encode implements Message.
func (m *OpenExtendedMiningChannel) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.RequestID)
	e.str0255("user_identity", m.UserIdentity)
	e.f32(m.NominalHashRate)
	e.u256(&m.MaxTarget)
	e.u16(m.MinExtranonceSize)
	return e.done()
}

// Decode implements Message.
func (m *OpenExtendedMiningChannel) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = OpenExtendedMiningChannel{
		RequestID:         d.u32(),
		UserIdentity:      d.str0255("user_identity"),
		NominalHashRate:   d.f32(),
		MaxTarget:         d.u256(),
		MinExtranonceSize: d.u16(),
	}
	return d.finish()
}

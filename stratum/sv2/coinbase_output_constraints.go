package sv2

// CoinbaseOutputConstraints (0x70, spec §7.1; CoinbaseOutputDataSize before
// spec PR #86) tells the Template Provider how much room and how many
// sigops to leave for the client's own coinbase outputs.
//
//	max_additional_size   U32
//	max_additional_sigops U16
type CoinbaseOutputConstraints struct {
	MaxAdditionalSize   uint32
	MaxAdditionalSigops uint16
}

var _ Message = (*CoinbaseOutputConstraints)(nil)

// ExtensionType implements Message.
func (*CoinbaseOutputConstraints) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*CoinbaseOutputConstraints) MsgType() MsgType { return MsgTypeCoinbaseOutputConstraints }

// ChannelMsg implements Message.
func (*CoinbaseOutputConstraints) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*CoinbaseOutputConstraints) MaxPayloadLength() uint32 { return 4 + 2 }

// Encode implements Message.
func (m *CoinbaseOutputConstraints) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.MaxAdditionalSize)
	e.u16(m.MaxAdditionalSigops)
	return e.done()
}

// Decode implements Message.
func (m *CoinbaseOutputConstraints) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = CoinbaseOutputConstraints{
		MaxAdditionalSize:   d.u32(),
		MaxAdditionalSigops: d.u16(),
	}
	return d.finish()
}

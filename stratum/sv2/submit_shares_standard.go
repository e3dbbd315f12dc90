package sv2

// SubmitSharesStandard (0x1a, spec §5.3.11) submits one share found on a
// standard channel.
//
//	channel_id      U32
//	sequence_number U32
//	job_id          U32
//	nonce           U32
//	ntime           U32
//	version         U32
type SubmitSharesStandard struct {
	ChannelID      uint32
	SequenceNumber uint32
	JobID          uint32
	Nonce          uint32
	NTime          uint32
	Version        uint32
}

var _ Message = (*SubmitSharesStandard)(nil)

// ExtensionType implements Message.
func (*SubmitSharesStandard) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SubmitSharesStandard) MsgType() MsgType { return MsgTypeSubmitSharesStandard }

// ChannelMsg implements Message.
func (*SubmitSharesStandard) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SubmitSharesStandard) MaxPayloadLength() uint32 { return 4 + 4 + 4 + 4 + 4 + 4 }

// Encode implements Message.
func (m *SubmitSharesStandard) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.SequenceNumber)
	e.u32(m.JobID)
	e.u32(m.Nonce)
	e.u32(m.NTime)
	e.u32(m.Version)
	return e.done()
}

// Decode implements Message.
func (m *SubmitSharesStandard) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SubmitSharesStandard{
		ChannelID:      d.u32(),
		SequenceNumber: d.u32(),
		JobID:          d.u32(),
		Nonce:          d.u32(),
		NTime:          d.u32(),
		Version:        d.u32(),
	}
	return d.finish()
}

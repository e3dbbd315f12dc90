package sv2

// SetCustomMiningJobSuccess (0x23, spec §5.3.19) accepts a custom job and
// returns the JobID to use in shares.
//
//	channel_id U32
//	request_id U32
//	job_id     U32
type SetCustomMiningJobSuccess struct {
	ChannelID uint32
	RequestID uint32
	JobID     uint32
}

var _ Message = (*SetCustomMiningJobSuccess)(nil)

// ExtensionType implements Message.
func (*SetCustomMiningJobSuccess) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetCustomMiningJobSuccess) MsgType() MsgType { return MsgTypeSetCustomMiningJobSuccess }

// ChannelMsg implements Message.
func (*SetCustomMiningJobSuccess) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SetCustomMiningJobSuccess) MaxPayloadLength() uint32 { return 4 + 4 + 4 }

// Encode implements Message.
func (m *SetCustomMiningJobSuccess) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.RequestID)
	e.u32(m.JobID)
	return e.done()
}

// Decode implements Message.
func (m *SetCustomMiningJobSuccess) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetCustomMiningJobSuccess{
		ChannelID: d.u32(),
		RequestID: d.u32(),
		JobID:     d.u32(),
	}
	return d.finish()
}

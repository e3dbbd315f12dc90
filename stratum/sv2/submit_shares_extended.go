package sv2

// SubmitSharesExtended (0x1b, spec §5.3.12) submits one share found on an
// extended channel. Extranonce is the client's part only, exactly
// extranonce_size bytes; the server prepends the channel's prefix.
//
//	channel_id      U32
//	sequence_number U32
//	job_id          U32
//	nonce           U32
//	ntime           U32
//	version         U32
//	extranonce      B0_32
//	TLV fields      (spec §3.4; only once an extension is negotiated)
//
// With extension 0x0002 negotiated every share carries the worker name as
// TLV (0x0002, 0x01); see UserIdentity.
type SubmitSharesExtended struct {
	ChannelID      uint32
	SequenceNumber uint32
	JobID          uint32
	Nonce          uint32
	NTime          uint32
	Version        uint32
	Extranonce     []byte
	// TLVs are the extension fields after the message, in wire order.
	// Unknown ones are kept so a proxy can forward them.
	TLVs []TLV
}

var _ Message = (*SubmitSharesExtended)(nil)

// ExtensionType implements Message.
func (*SubmitSharesExtended) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SubmitSharesExtended) MsgType() MsgType { return MsgTypeSubmitSharesExtended }

// ChannelMsg implements Message.
func (*SubmitSharesExtended) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SubmitSharesExtended) MaxPayloadLength() uint32 { return 6*4 + sizeB032 + maxTLVArea }

// Encode implements Message.
func (m *SubmitSharesExtended) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.SequenceNumber)
	e.u32(m.JobID)
	e.u32(m.Nonce)
	e.u32(m.NTime)
	e.u32(m.Version)
	e.b032("extranonce", m.Extranonce)
	e.tlvs(m.TLVs)
	return e.done()
}

// Decode implements Message.
func (m *SubmitSharesExtended) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SubmitSharesExtended{
		ChannelID:      d.u32(),
		SequenceNumber: d.u32(),
		JobID:          d.u32(),
		Nonce:          d.u32(),
		NTime:          d.u32(),
		Version:        d.u32(),
		Extranonce:     d.b032("extranonce"),
	}
	m.TLVs = d.tlvs()
	return d.finish()
}

// UserIdentity returns the worker name from the extension 0x0002 TLV.
func (m *SubmitSharesExtended) UserIdentity() (string, bool) {
	for _, t := range m.TLVs {
		if t.ExtensionType == ExtensionWorkerHashrateTracking && t.FieldType == TLVFieldUserIdentity {
			return string(t.Value), true
		}
	}
	return "", false
}

// SetUserIdentity sets (or replaces) the extension 0x0002 worker-name TLV,
// keeping TLVs ordered by extension type as spec §3.4 asks. Names longer
// than MaxUserIdentityTLV fail when the message is encoded.
func (m *SubmitSharesExtended) SetUserIdentity(name string) {
	t := TLV{ExtensionType: ExtensionWorkerHashrateTracking, FieldType: TLVFieldUserIdentity, Value: []byte(name)}
	for i := range m.TLVs {
		switch cur := &m.TLVs[i]; {
		case cur.ExtensionType == t.ExtensionType && cur.FieldType == t.FieldType:
			*cur = t
			return
		case cur.ExtensionType > t.ExtensionType:
			m.TLVs = append(m.TLVs[:i], append([]TLV{t}, m.TLVs[i:]...)...)
			return
		}
	}
	m.TLVs = append(m.TLVs, t)
}

package sv2

// SetCustomMiningJob (0x22, spec §5.3.18) declares a job the client built
// itself (REQUIRES_WORK_SELECTION), identified by the token from its Job
// Declarator. Custom jobs always start at once, so MinNTime is mandatory.
// CoinbaseTxOutputs is a CompactSize-prefixed list of serialized outputs.
// The channel bit is set since spec PR #196 (2026-05).
//
//	channel_id                  U32
//	request_id                  U32
//	mining_job_token            B0_255
//	version                     U32
//	prev_hash                   U256
//	min_ntime                   U32
//	nbits                       U32
//	coinbase_tx_version         U32
//	coinbase_prefix             B0_255
//	coinbase_tx_input_nSequence U32
//	coinbase_tx_outputs         B0_64K
//	coinbase_tx_locktime        U32
//	merkle_path                 SEQ0_255[U256]
type SetCustomMiningJob struct {
	ChannelID                uint32
	RequestID                uint32
	MiningJobToken           []byte
	Version                  uint32
	PrevHash                 U256
	MinNTime                 uint32
	NBits                    uint32
	CoinbaseTxVersion        uint32
	CoinbasePrefix           []byte
	CoinbaseTxInputNSequence uint32
	CoinbaseTxOutputs        []byte
	CoinbaseTxLocktime       uint32
	MerklePath               []U256
}

var _ Message = (*SetCustomMiningJob)(nil)

// ExtensionType implements Message.
func (*SetCustomMiningJob) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetCustomMiningJob) MsgType() MsgType { return MsgTypeSetCustomMiningJob }

// ChannelMsg implements Message.
func (*SetCustomMiningJob) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*SetCustomMiningJob) MaxPayloadLength() uint32 {
	return 4 + 4 + sizeB0255 + 4 + 32 + 4 + 4 + 4 + sizeB0255 + 4 + sizeB064K + 4 + sizeSeq0255U256
}

// Encode implements Message.
func (m *SetCustomMiningJob) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.RequestID)
	e.b0255("mining_job_token", m.MiningJobToken)
	e.u32(m.Version)
	e.u256(&m.PrevHash)
	e.u32(m.MinNTime)
	e.u32(m.NBits)
	e.u32(m.CoinbaseTxVersion)
	e.b0255("coinbase_prefix", m.CoinbasePrefix)
	e.u32(m.CoinbaseTxInputNSequence)
	e.b064K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	e.u32(m.CoinbaseTxLocktime)
	e.seq0255U256("merkle_path", m.MerklePath)
	return e.done()
}

// Decode implements Message.
func (m *SetCustomMiningJob) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetCustomMiningJob{
		ChannelID:                d.u32(),
		RequestID:                d.u32(),
		MiningJobToken:           d.b0255("mining_job_token"),
		Version:                  d.u32(),
		PrevHash:                 d.u256(),
		MinNTime:                 d.u32(),
		NBits:                    d.u32(),
		CoinbaseTxVersion:        d.u32(),
		CoinbasePrefix:           d.b0255("coinbase_prefix"),
		CoinbaseTxInputNSequence: d.u32(),
		CoinbaseTxOutputs:        d.b064K("coinbase_tx_outputs"),
		CoinbaseTxLocktime:       d.u32(),
		MerklePath:               d.seq0255U256("merkle_path"),
	}
	return d.finish()
}

package sv2

// NewExtendedMiningJob (0x1f, spec §5.3.16) gives an extended or group
// channel the parts to build coinbases: prefix ‖ extranonce_prefix ‖
// extranonce ‖ suffix, folded with MerklePath into the merkle root. The
// coinbase parts must be stripped of BIP141 data (spec PR #153); older pools
// still send it. MinNTime behaves as in NewMiningJob.
//
//	channel_id              U32
//	job_id                  U32
//	min_ntime               OPTION[U32]
//	version                 U32
//	version_rolling_allowed BOOL
//	merkle_path             SEQ0_255[U256]
//	coinbase_tx_prefix      B0_64K
//	coinbase_tx_suffix      B0_64K
type NewExtendedMiningJob struct {
	ChannelID uint32
	JobID     uint32
	MinNTime  Option[uint32]
	Version   uint32
	// VersionRollingAllowed lets the miner roll the BIP323 bits
	// (VersionRollingMask).
	VersionRollingAllowed bool
	// MerklePath is ordered from the deepest level; nodes are raw U256.
	MerklePath       []U256
	CoinbaseTxPrefix []byte
	CoinbaseTxSuffix []byte
}

var _ Message = (*NewExtendedMiningJob)(nil)

// ExtensionType implements Message.
func (*NewExtendedMiningJob) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*NewExtendedMiningJob) MsgType() MsgType { return MsgTypeNewExtendedMiningJob }

// ChannelMsg implements Message.
func (*NewExtendedMiningJob) ChannelMsg() bool { return true }

// MaxPayloadLength implements Message.
func (*NewExtendedMiningJob) MaxPayloadLength() uint32 {
	return 4 + 4 + sizeOptU32 + 4 + 1 + sizeSeq0255U256 + sizeB064K + sizeB064K
}

// Encode implements Message.
func (m *NewExtendedMiningJob) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u32(m.ChannelID)
	e.u32(m.JobID)
	e.optU32(m.MinNTime)
	e.u32(m.Version)
	e.boolean(m.VersionRollingAllowed)
	e.seq0255U256("merkle_path", m.MerklePath)
	e.b064K("coinbase_tx_prefix", m.CoinbaseTxPrefix)
	e.b064K("coinbase_tx_suffix", m.CoinbaseTxSuffix)
	return e.done()
}

// Decode implements Message.
func (m *NewExtendedMiningJob) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = NewExtendedMiningJob{
		ChannelID:             d.u32(),
		JobID:                 d.u32(),
		MinNTime:              d.optU32(),
		Version:               d.u32(),
		VersionRollingAllowed: d.boolean(),
		MerklePath:            d.seq0255U256("merkle_path"),
		CoinbaseTxPrefix:      d.b064K("coinbase_tx_prefix"),
		CoinbaseTxSuffix:      d.b064K("coinbase_tx_suffix"),
	}
	return d.finish()
}

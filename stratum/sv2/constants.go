package sv2

// ProtocolVersion is the only SV2 version in use; SetupConnection's
// min_version and max_version are both 2.
const ProtocolVersion uint16 = 2

// Sub-protocols named by SetupConnection.Protocol (spec §3.6.1).
const (
	ProtocolMining               uint8 = 0
	ProtocolJobDeclaration       uint8 = 1
	ProtocolTemplateDistribution uint8 = 2
)

// SetupConnection.Flags for the Mining protocol, client side (spec §5.3.1).
const (
	// FlagRequiresStandardJobs: the client can only use NewMiningJob.
	FlagRequiresStandardJobs uint32 = 1 << 0
	// FlagRequiresWorkSelection: the client will send SetCustomMiningJob.
	FlagRequiresWorkSelection uint32 = 1 << 1
	// FlagRequiresVersionRolling: the server must not send jobs that
	// forbid version rolling.
	FlagRequiresVersionRolling uint32 = 1 << 2
)

// SetupConnectionSuccess.Flags for the Mining protocol (spec §5.3.1).
const (
	// SuccessFlagRequiresFixedVersion must not be set when the client asked
	// for version rolling.
	SuccessFlagRequiresFixedVersion uint32 = 1 << 0
	// SuccessFlagRequiresExtendedChannels: the server refuses standard
	// channels.
	SuccessFlagRequiresExtendedChannels uint32 = 1 << 1
)

// FlagDeclareTxData is the Job Declaration SetupConnection flag for
// Full-Template mode (spec §6).
const FlagDeclareTxData uint32 = 1 << 0

// VersionRollingMask is the block-version bits a miner may roll when
// version_rolling_allowed is set: BIP323's 24 bits, 5 to 28. SV2 used
// BIP320's 0x1FFFE000 until SRI (2026-07-31) and the spec (PR #200).
const VersionRollingMask uint32 = 0x1FFFFFE0

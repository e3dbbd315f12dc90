package sv2

import "fmt"

// MsgType is the msg_type byte of a frame header. Numbers are unique within
// an extension; the core protocols (extension 0) share one table (spec §8).
type MsgType uint8

// Common protocol (spec §3.6).
const (
	MsgTypeSetupConnection        MsgType = 0x00
	MsgTypeSetupConnectionSuccess MsgType = 0x01
	MsgTypeSetupConnectionError   MsgType = 0x02
	MsgTypeChannelEndpointChanged MsgType = 0x03
	MsgTypeReconnect              MsgType = 0x04
)

// Mining protocol (spec §5.3). 0x1e is reserved.
const (
	MsgTypeOpenStandardMiningChannel        MsgType = 0x10
	MsgTypeOpenStandardMiningChannelSuccess MsgType = 0x11
	MsgTypeOpenMiningChannelError           MsgType = 0x12
	MsgTypeOpenExtendedMiningChannel        MsgType = 0x13
	MsgTypeOpenExtendedMiningChannelSuccess MsgType = 0x14
	MsgTypeNewMiningJob                     MsgType = 0x15
	MsgTypeUpdateChannel                    MsgType = 0x16
	MsgTypeUpdateChannelError               MsgType = 0x17
	MsgTypeCloseChannel                     MsgType = 0x18
	MsgTypeSetExtranoncePrefix              MsgType = 0x19
	MsgTypeSubmitSharesStandard             MsgType = 0x1a
	MsgTypeSubmitSharesExtended             MsgType = 0x1b
	MsgTypeSubmitSharesSuccess              MsgType = 0x1c
	MsgTypeSubmitSharesError                MsgType = 0x1d
	MsgTypeNewExtendedMiningJob             MsgType = 0x1f
	MsgTypeSetNewPrevHash                   MsgType = 0x20
	MsgTypeSetTarget                        MsgType = 0x21
	MsgTypeSetCustomMiningJob               MsgType = 0x22
	MsgTypeSetCustomMiningJobSuccess        MsgType = 0x23
	MsgTypeSetCustomMiningJobError          MsgType = 0x24
	MsgTypeSetGroupChannel                  MsgType = 0x25
)

// Template Distribution protocol (spec §7).
const (
	MsgTypeCoinbaseOutputConstraints     MsgType = 0x70
	MsgTypeNewTemplate                   MsgType = 0x71
	MsgTypeTemplateSetNewPrevHash        MsgType = 0x72
	MsgTypeRequestTransactionData        MsgType = 0x73
	MsgTypeRequestTransactionDataSuccess MsgType = 0x74
	MsgTypeRequestTransactionDataError   MsgType = 0x75
	MsgTypeSubmitSolution                MsgType = 0x76
)

// Extensions Negotiation, extension 0x0001.
const (
	MsgTypeRequestExtensions        MsgType = 0x00
	MsgTypeRequestExtensionsSuccess MsgType = 0x01
	MsgTypeRequestExtensionsError   MsgType = 0x02
)

// Extension types (the extension_type field without the channel bit).
const (
	ExtensionCore                   uint16 = 0x0000
	ExtensionNegotiation            uint16 = 0x0001
	ExtensionWorkerHashrateTracking uint16 = 0x0002
)

// Message is one SV2 message. Encode and Decode handle the payload only;
// AppendFrame and ReadFrame add and check the frame header.
type Message interface {
	// ExtensionType is the extension the message belongs to, without the
	// channel bit: 0 for the core protocols.
	ExtensionType() uint16
	// MsgType is the msg_type byte.
	MsgType() MsgType
	// ChannelMsg reports whether the message is sent with the channel_msg
	// bit set; the current table (2026-05) is used for sending.
	ChannelMsg() bool
	// MaxPayloadLength bounds msg_length for this type; ReadFrame checks it
	// before allocating the payload.
	MaxPayloadLength() uint32
	// Encode appends the payload to dst. On error it returns dst unchanged.
	Encode(dst []byte) ([]byte, error)
	// Decode replaces the message with the one in payload, which must be
	// consumed exactly. The message may alias payload.
	Decode(payload []byte) error
}

type registryEntry struct {
	name string
	new  func() Message
}

// coreRegistry maps an extension-0 msg_type to its constructor. It is the
// only place that knows which types exist; it is never written after init.
var coreRegistry = [256]registryEntry{
	MsgTypeSetupConnection:        {"SetupConnection", func() Message { return new(SetupConnection) }},
	MsgTypeSetupConnectionSuccess: {"SetupConnection.Success", func() Message { return new(SetupConnectionSuccess) }},
	MsgTypeSetupConnectionError:   {"SetupConnection.Error", func() Message { return new(SetupConnectionError) }},
	MsgTypeChannelEndpointChanged: {"ChannelEndpointChanged", func() Message { return new(ChannelEndpointChanged) }},
	MsgTypeReconnect:              {"Reconnect", func() Message { return new(Reconnect) }},

	MsgTypeOpenStandardMiningChannel:        {"OpenStandardMiningChannel", func() Message { return new(OpenStandardMiningChannel) }},
	MsgTypeOpenStandardMiningChannelSuccess: {"OpenStandardMiningChannel.Success", func() Message { return new(OpenStandardMiningChannelSuccess) }},
	MsgTypeOpenMiningChannelError:           {"OpenMiningChannel.Error", func() Message { return new(OpenMiningChannelError) }},
	MsgTypeOpenExtendedMiningChannel:        {"OpenExtendedMiningChannel", func() Message { return new(OpenExtendedMiningChannel) }},
	MsgTypeOpenExtendedMiningChannelSuccess: {"OpenExtendedMiningChannel.Success", func() Message { return new(OpenExtendedMiningChannelSuccess) }},
	MsgTypeNewMiningJob:                     {"NewMiningJob", func() Message { return new(NewMiningJob) }},
	MsgTypeUpdateChannel:                    {"UpdateChannel", func() Message { return new(UpdateChannel) }},
	MsgTypeUpdateChannelError:               {"UpdateChannel.Error", func() Message { return new(UpdateChannelError) }},
	MsgTypeCloseChannel:                     {"CloseChannel", func() Message { return new(CloseChannel) }},
	MsgTypeSetExtranoncePrefix:              {"SetExtranoncePrefix", func() Message { return new(SetExtranoncePrefix) }},
	MsgTypeSubmitSharesStandard:             {"SubmitSharesStandard", func() Message { return new(SubmitSharesStandard) }},
	MsgTypeSubmitSharesExtended:             {"SubmitSharesExtended", func() Message { return new(SubmitSharesExtended) }},
	MsgTypeSubmitSharesSuccess:              {"SubmitShares.Success", func() Message { return new(SubmitSharesSuccess) }},
	MsgTypeSubmitSharesError:                {"SubmitShares.Error", func() Message { return new(SubmitSharesError) }},
	MsgTypeNewExtendedMiningJob:             {"NewExtendedMiningJob", func() Message { return new(NewExtendedMiningJob) }},
	MsgTypeSetNewPrevHash:                   {"SetNewPrevHash", func() Message { return new(SetNewPrevHash) }},
	MsgTypeSetTarget:                        {"SetTarget", func() Message { return new(SetTarget) }},
	MsgTypeSetCustomMiningJob:               {"SetCustomMiningJob", func() Message { return new(SetCustomMiningJob) }},
	MsgTypeSetCustomMiningJobSuccess:        {"SetCustomMiningJob.Success", func() Message { return new(SetCustomMiningJobSuccess) }},
	MsgTypeSetCustomMiningJobError:          {"SetCustomMiningJob.Error", func() Message { return new(SetCustomMiningJobError) }},
	MsgTypeSetGroupChannel:                  {"SetGroupChannel", func() Message { return new(SetGroupChannel) }},

	MsgTypeCoinbaseOutputConstraints:     {"CoinbaseOutputConstraints", func() Message { return new(CoinbaseOutputConstraints) }},
	MsgTypeNewTemplate:                   {"NewTemplate", func() Message { return new(NewTemplate) }},
	MsgTypeTemplateSetNewPrevHash:        {"SetNewPrevHash(TDP)", func() Message { return new(TemplateSetNewPrevHash) }},
	MsgTypeRequestTransactionData:        {"RequestTransactionData", func() Message { return new(RequestTransactionData) }},
	MsgTypeRequestTransactionDataSuccess: {"RequestTransactionData.Success", func() Message { return new(RequestTransactionDataSuccess) }},
	MsgTypeRequestTransactionDataError:   {"RequestTransactionData.Error", func() Message { return new(RequestTransactionDataError) }},
	MsgTypeSubmitSolution:                {"SubmitSolution", func() Message { return new(SubmitSolution) }},
}

// negotiationRegistry covers extension 0x0001.
var negotiationRegistry = [256]registryEntry{
	MsgTypeRequestExtensions:        {"RequestExtensions", func() Message { return new(RequestExtensions) }},
	MsgTypeRequestExtensionsSuccess: {"RequestExtensions.Success", func() Message { return new(RequestExtensionsSuccess) }},
	MsgTypeRequestExtensionsError:   {"RequestExtensions.Error", func() Message { return new(RequestExtensionsError) }},
}

func lookup(extensionType uint16, t MsgType) *registryEntry {
	switch extensionType &^ ChannelMsgBit {
	case ExtensionCore:
		return &coreRegistry[t]
	case ExtensionNegotiation:
		return &negotiationRegistry[t]
	}
	return nil
}

// NewMessage returns an empty message of the given type, or nil if the type
// is not known. The channel bit in extensionType is ignored, so peers using
// an older channel_msg table are still understood.
func NewMessage(extensionType uint16, t MsgType) Message {
	if e := lookup(extensionType, t); e != nil && e.new != nil {
		return e.new()
	}
	return nil
}

// MessageName returns the spec name of a message type, for logs.
func MessageName(extensionType uint16, t MsgType) string {
	if e := lookup(extensionType, t); e != nil && e.name != "" {
		return e.name
	}
	return fmt.Sprintf("unknown(0x%04x,0x%02x)", extensionType&^ChannelMsgBit, uint8(t))
}

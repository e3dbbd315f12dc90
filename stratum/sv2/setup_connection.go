package sv2

// SetupConnection (0x00, spec §3.6.1) is the first message a client sends
// on any connection; it names the sub-protocol and the version range, and
// flags announce features (see the Flag constants).
//
//	protocol         U8
//	min_version      U16
//	max_version      U16
//	flags            U32
//	endpoint_host    STR0_255
//	endpoint_port    U16
//	vendor           STR0_255
//	hardware_version STR0_255
//	firmware         STR0_255
//	device_id        STR0_255
type SetupConnection struct {
	// Protocol is ProtocolMining, ProtocolJobDeclaration or
	// ProtocolTemplateDistribution.
	Protocol   uint8
	MinVersion uint16
	MaxVersion uint16
	Flags      uint32
	// EndpointHost and EndpointPort are the address the client dialled,
	// which lets a proxy route by name.
	EndpointHost    string
	EndpointPort    uint16
	Vendor          string
	HardwareVersion string
	Firmware        string
	DeviceID        string
}

var _ Message = (*SetupConnection)(nil)

// ExtensionType implements Message.
func (*SetupConnection) ExtensionType() uint16 { return ExtensionCore }

// MsgType implements Message.
func (*SetupConnection) MsgType() MsgType { return MsgTypeSetupConnection }

// ChannelMsg implements Message.
func (*SetupConnection) ChannelMsg() bool { return false }

// MaxPayloadLength implements Message.
func (*SetupConnection) MaxPayloadLength() uint32 {
	return 1 + 2 + 2 + 4 + sizeStr0255 + 2 + sizeStr0255 + sizeStr0255 + sizeStr0255 + sizeStr0255
}

// Encode implements Message.
func (m *SetupConnection) Encode(dst []byte) ([]byte, error) {
	e := newEncoder(dst)
	e.u8(m.Protocol)
	e.u16(m.MinVersion)
	e.u16(m.MaxVersion)
	e.u32(m.Flags)
	e.str0255("endpoint_host", m.EndpointHost)
	e.u16(m.EndpointPort)
	e.str0255("vendor", m.Vendor)
	e.str0255("hardware_version", m.HardwareVersion)
	e.str0255("firmware", m.Firmware)
	e.str0255("device_id", m.DeviceID)
	return e.done()
}

// Decode implements Message.
func (m *SetupConnection) Decode(payload []byte) error {
	d := decoder{b: payload}
	*m = SetupConnection{
		Protocol:        d.u8(),
		MinVersion:      d.u16(),
		MaxVersion:      d.u16(),
		Flags:           d.u32(),
		EndpointHost:    d.str0255("endpoint_host"),
		EndpointPort:    d.u16(),
		Vendor:          d.str0255("vendor"),
		HardwareVersion: d.str0255("hardware_version"),
		Firmware:        d.str0255("firmware"),
		DeviceID:        d.str0255("device_id"),
	}
	return d.finish()
}

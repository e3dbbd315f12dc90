package sv2

import (
	"encoding/binary"
	"fmt"
)

// Unknown is a frame whose (extension, msg_type) this package does not
// know. Per spec §3.2 a receiver drops one with the channel bit clear and a
// proxy forwards one with the bit set to the owner of its channel_id; the
// header is kept exactly so AppendFrame reproduces the frame byte for byte.
type Unknown struct {
	// Header is the header as received, channel bit included.
	Header  Header
	Payload []byte
	// Dropped is set when the payload exceeded MaxUnknownPayload and was
	// discarded unread; such a frame cannot be forwarded.
	Dropped bool
}

var _ Message = (*Unknown)(nil)

// ExtensionType implements Message.
func (u *Unknown) ExtensionType() uint16 { return u.Header.Extension() }

// MsgType implements Message.
func (u *Unknown) MsgType() MsgType { return u.Header.MsgType }

// ChannelMsg implements Message; it echoes the received bit.
func (u *Unknown) ChannelMsg() bool { return u.Header.ChannelMsg() }

// MaxPayloadLength implements Message.
func (u *Unknown) MaxPayloadLength() uint32 { return MaxUnknownPayload }

// Encode implements Message by appending the payload unchanged.
func (u *Unknown) Encode(dst []byte) ([]byte, error) {
	if u.Dropped {
		return dst, ErrDroppedPayload
	}
	return append(dst, u.Payload...), nil
}

// Decode implements Message. The payload is kept as is (aliased).
func (u *Unknown) Decode(payload []byte) error {
	if len(payload) > MaxUnknownPayload {
		return fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	}
	u.Payload = payload
	u.Dropped = false
	u.Header.Length = uint32(len(payload))
	return nil
}

// ChannelID returns the channel_id leading a channel message's payload.
func (u *Unknown) ChannelID() (uint32, bool) {
	if !u.Header.ChannelMsg() || len(u.Payload) < 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(u.Payload), true
}

// SetChannelID rewrites the channel_id in place, the one change a proxy
// makes when forwarding an unknown channel message. It reports false if the
// frame is not a channel message.
func (u *Unknown) SetChannelID(id uint32) bool {
	if !u.Header.ChannelMsg() || len(u.Payload) < 4 {
		return false
	}
	binary.LittleEndian.PutUint32(u.Payload, id)
	return true
}

package sv2

import (
	"errors"
	"fmt"
	"io"
)

// Frame constants (spec §3.2).
const (
	// HeaderSize is the plaintext frame header: extension_type U16,
	// msg_type U8, msg_length U24.
	HeaderSize = 6
	// ChannelMsgBit is bit 15 of extension_type. SRI's CHANNEL_MSG_MASK is
	// the authority; the spec's "least significant bit" wording is garbled.
	ChannelMsgBit uint16 = 0x8000
	// MaxFrameLength is the largest msg_length a U24 can carry.
	MaxFrameLength = 1<<24 - 1
	// MaxUnknownPayload bounds what ReadFrame buffers for a frame of an
	// unknown type; larger ones are discarded unread (Unknown.Dropped).
	MaxUnknownPayload = 1 << 16
)

// Header is the 6-byte plaintext frame header.
type Header struct {
	// ExtensionType is the field as on the wire, channel bit included.
	ExtensionType uint16
	MsgType       MsgType
	// Length is msg_length: the payload size, header excluded (U24).
	Length uint32
}

// ChannelMsg reports whether the channel_msg bit is set; if so the payload
// starts with a U32 channel_id.
func (h Header) ChannelMsg() bool { return h.ExtensionType&ChannelMsgBit != 0 }

// Extension is the extension id without the channel bit; 0x8001 and 0x0001
// are the same extension.
func (h Header) Extension() uint16 { return h.ExtensionType &^ ChannelMsgBit }

// ParseHeader decodes the first HeaderSize bytes of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShortHeader
	}
	return Header{
		ExtensionType: uint16(b[0]) | uint16(b[1])<<8,
		MsgType:       MsgType(b[2]),
		Length:        uint32(b[3]) | uint32(b[4])<<8 | uint32(b[5])<<16,
	}, nil
}

// AppendHeader appends the encoded header to dst. It fails if Length does
// not fit in a U24.
func AppendHeader(dst []byte, h Header) ([]byte, error) {
	if h.Length > MaxFrameLength {
		return dst, fmt.Errorf("%w: msg_length %d does not fit in a U24", ErrPayloadTooLarge, h.Length)
	}
	dst = append(dst, make([]byte, HeaderSize)...)
	putHeader(dst[len(dst)-HeaderSize:], h)
	return dst, nil
}

// putHeader writes h into b[:HeaderSize]; h.Length must fit in a U24.
func putHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	b[0], b[1] = byte(h.ExtensionType), byte(h.ExtensionType>>8)
	b[2] = byte(h.MsgType)
	b[3], b[4], b[5] = byte(h.Length), byte(h.Length>>8), byte(h.Length>>16)
}

// HeaderFor returns the header a frame carrying m with a payload of
// payloadLen bytes gets on the wire.
func HeaderFor(m Message, payloadLen int) Header {
	ext := m.ExtensionType()
	if m.ChannelMsg() {
		ext |= ChannelMsgBit
	}
	return Header{ExtensionType: ext, MsgType: m.MsgType(), Length: uint32(payloadLen)}
}

// AppendFrame appends the whole frame (header and payload) for m to dst. It
// is all-or-nothing: on error dst is returned with its original length, so
// a half-written frame can never reach an encrypted stream.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	out, err := m.Encode(dst)
	if err != nil {
		return dst[:start], &MessageError{ExtensionType: m.ExtensionType(), MsgType: m.MsgType(), Err: err}
	}
	n := len(out) - start - HeaderSize
	if n > int(m.MaxPayloadLength()) || n > MaxFrameLength {
		return out[:start], &MessageError{ExtensionType: m.ExtensionType(), MsgType: m.MsgType(),
			Err: fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, n)}
	}
	putHeader(out[start:start+HeaderSize], HeaderFor(m, n))
	return out, nil
}

// WriteFrame encodes m into one buffer and writes it with a single Write.
// Writers that send many frames should reuse a buffer with AppendFrame.
func WriteFrame(w io.Writer, m Message) error {
	buf, err := AppendFrame(nil, m)
	if err != nil {
		return err
	}
	n, err := w.Write(buf)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	return err
}

// MaxPayloadFor returns the largest msg_length accepted for h: the maximum
// of the message type, or MaxUnknownPayload for unknown types. A transport
// that reads the header separately (Noise) checks it before reading the
// payload.
func MaxPayloadFor(h Header) uint32 {
	if m := NewMessage(h.ExtensionType, h.MsgType); m != nil {
		return m.MaxPayloadLength()
	}
	return MaxUnknownPayload
}

// DecodeMessage decodes payload as the message h announces. Unknown types
// yield an *Unknown holding the payload. A malformed or oversized known
// message yields a *MessageError. The result may alias payload.
func DecodeMessage(h Header, payload []byte) (Message, error) {
	m := NewMessage(h.ExtensionType, h.MsgType)
	if m == nil {
		u := &Unknown{Header: h}
		if len(payload) > MaxUnknownPayload {
			return nil, &MessageError{ExtensionType: h.Extension(), MsgType: h.MsgType,
				Err: fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))}
		}
		_ = u.Decode(payload)
		return u, nil
	}
	if len(payload) > int(m.MaxPayloadLength()) {
		return nil, &MessageError{ExtensionType: h.Extension(), MsgType: h.MsgType,
			Err: fmt.Errorf("%w: %d bytes, maximum %d", ErrPayloadTooLarge, len(payload), m.MaxPayloadLength())}
	}
	if err := m.Decode(payload); err != nil {
		return nil, &MessageError{ExtensionType: h.Extension(), MsgType: h.MsgType, Err: err}
	}
	return m, nil
}

// ReadFrame reads one plaintext frame from r and decodes it.
//
// It returns io.EOF only when r ends cleanly before a frame, and
// io.ErrUnexpectedEOF when a frame is cut short. msg_length is checked
// against the type's maximum before the payload is allocated; a violation
// is a *MessageError wrapping ErrPayloadTooLarge, after which the stream is
// out of step and the connection must be closed. A malformed known message
// is a *MessageError too (its payload was consumed). Unknown types return an
// *Unknown, which the caller may skip or forward.
func ReadFrame(r io.Reader) (Message, error) {
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return nil, err
	}
	h, _ := ParseHeader(hb[:])
	m := NewMessage(h.ExtensionType, h.MsgType)
	if m == nil {
		return readUnknown(r, h)
	}
	if h.Length > m.MaxPayloadLength() {
		return nil, &MessageError{ExtensionType: h.Extension(), MsgType: h.MsgType,
			Err: fmt.Errorf("%w: msg_length %d, maximum %d", ErrPayloadTooLarge, h.Length, m.MaxPayloadLength())}
	}
	payload := make([]byte, h.Length)
	if err := readPayload(r, payload); err != nil {
		return nil, err
	}
	if err := m.Decode(payload); err != nil {
		return nil, &MessageError{ExtensionType: h.Extension(), MsgType: h.MsgType, Err: err}
	}
	return m, nil
}

func readUnknown(r io.Reader, h Header) (Message, error) {
	u := &Unknown{Header: h}
	if h.Length > MaxUnknownPayload {
		// Skip without buffering: the stream stays in step, and a peer
		// cannot make us allocate 16 MiB for a type we do not know.
		if _, err := io.CopyN(io.Discard, r, int64(h.Length)); err != nil {
			return nil, unexpected(err)
		}
		u.Dropped = true
		return u, nil
	}
	if h.Length > 0 {
		u.Payload = make([]byte, h.Length)
		if err := readPayload(r, u.Payload); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func readPayload(r io.Reader, p []byte) error {
	if _, err := io.ReadFull(r, p); err != nil {
		return unexpected(err)
	}
	return nil
}

// unexpected turns io.EOF inside a frame into io.ErrUnexpectedEOF: only a
// frame boundary is a clean end.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

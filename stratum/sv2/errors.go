package sv2

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decode errors arrive wrapped in a *MessageError; use
// errors.Is to classify them.
var (
	// ErrShortPayload means a field runs past the end of the payload.
	ErrShortPayload = errors.New("sv2: payload too short")
	// ErrTrailingBytes means bytes remain after the last field. A peer
	// could otherwise smuggle data past a decoder.
	ErrTrailingBytes = errors.New("sv2: trailing bytes after message")
	// ErrFieldTooLong means a variable-length field exceeds the maximum of
	// its type (for example a B0_32 longer than 32 bytes).
	ErrFieldTooLong = errors.New("sv2: field exceeds its maximum length")
	// ErrInvalidOption means an OPTION count byte is neither 0 nor 1.
	ErrInvalidOption = errors.New("sv2: invalid OPTION count")
	// ErrPayloadTooLarge means msg_length exceeds the maximum payload of
	// the message type; the payload was not read.
	ErrPayloadTooLarge = errors.New("sv2: payload exceeds the maximum for its message type")
	// ErrShortHeader means fewer than HeaderSize bytes were given.
	ErrShortHeader = errors.New("sv2: short frame header")
	// ErrDroppedPayload means an *Unknown whose payload was discarded for
	// size cannot be encoded again.
	ErrDroppedPayload = errors.New("sv2: unknown frame payload was dropped")
)

// MessageError reports a message that could not be decoded or encoded. On
// the read side it means the peer sent a malformed known message: fatal to
// that connection, never to the process.
type MessageError struct {
	ExtensionType uint16 // without the channel bit
	MsgType       MsgType
	Err           error
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("sv2: %s (ext 0x%04x type 0x%02x): %v",
		MessageName(e.ExtensionType, e.MsgType), e.ExtensionType, uint8(e.MsgType), e.Err)
}

func (e *MessageError) Unwrap() error { return e.Err }

func shortErr(need, off, have int) error {
	return fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShortPayload, need, off, have)
}

func tooLongErr(field string, n, max int) error {
	return fmt.Errorf("%w: %s is %d, maximum %d", ErrFieldTooLong, field, n, max)
}

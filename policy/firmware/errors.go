package firmware

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Sentinel errors. Drivers wrap them so callers can use errors.Is.
var (
	// ErrAuth means the firmware rejected our credentials or session even
	// after one fresh login; retrying will not help.
	ErrAuth = errors.New("firmware: authentication rejected")
	// ErrUnsupported means the firmware has no documented way to do this.
	ErrUnsupported = errors.New("firmware: operation not supported")
	// ErrNotConfirmed means the firmware accepted a write but reading the
	// state back did not show the change.
	ErrNotConfirmed = errors.New("firmware: change not confirmed by read-back")
	// ErrTimeout means the miner did not answer in time.
	ErrTimeout = errors.New("firmware: timeout")
	// ErrProtocol means the miner answered something we cannot parse.
	ErrProtocol = errors.New("firmware: malformed reply")
	// ErrSessionBusy means another client holds the miner's only session.
	ErrSessionBusy = errors.New("firmware: session held by another client")
	// ErrOutOfRange means a power target outside what the miner offers.
	ErrOutOfRange = errors.New("firmware: power target out of range")
	// ErrUnknownFirmware is returned by the registry for an unknown name.
	ErrUnknownFirmware = errors.New("firmware: unknown firmware")
)

// CommandError is a refusal reported by the firmware itself: a cgminer
// STATUS "E", a gRPC status or an HTTP error code.
type CommandError struct {
	Firmware string
	Command  string
	Code     int
	Msg      string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("firmware %s: %s refused (code %d): %s", e.Firmware, e.Command, e.Code, e.Msg)
}

// protoErr wraps a decoding failure as ErrProtocol.
func protoErr(fw, what string, err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrProtocol, fw, what, err)
}

// netErr classifies transport failures: deadlines become ErrTimeout, the
// rest are returned as they are (and stay retriable).
func netErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrTimeout) {
		return err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// Retriable reports whether repeating a command may succeed: timeouts,
// transport errors, unconfirmed writes and garbled replies are; refused
// credentials, unsupported operations, bad arguments and cancellation are not.
func Retriable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled),
		errors.Is(err, ErrAuth),
		errors.Is(err, ErrUnsupported),
		errors.Is(err, ErrOutOfRange),
		errors.Is(err, ErrUnknownFirmware):
		return false
	}
	var ce *CommandError
	if errors.As(err, &ce) {
		return false
	}
	return true
}

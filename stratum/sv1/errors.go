package sv1

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the codec. Every error produced by this package
// wraps exactly one of them, so callers can branch with errors.Is.
var (
	// ErrLineTooLong reports a line longer than the LineReader's cap. The
	// reader has not buffered the line; the rest of it is discarded on the
	// next ReadLine.
	ErrLineTooLong = errors.New("sv1: line too long")

	// ErrMalformedJSON reports a line that is not one valid JSON value.
	ErrMalformedJSON = errors.New("sv1: malformed JSON")

	// ErrInvalidMessage reports valid JSON that is not a Stratum message:
	// not an object, an id that is neither number, string nor null, a
	// non-string method, or neither a method nor a result/error.
	ErrInvalidMessage = errors.New("sv1: invalid message")

	// ErrInvalidParams reports params (or a result) of the wrong shape for
	// their method: too few elements, wrong JSON types, bad hex, out of range.
	ErrInvalidParams = errors.New("sv1: invalid params")

	// ErrUnknownMethod reports a method this package has no typed params for.
	ErrUnknownMethod = errors.New("sv1: unknown method")
)

// ParamError describes which element of a params array (or result) failed
// to decode. It unwraps to ErrInvalidParams.
type ParamError struct {
	Method string // method (or result) being decoded
	Index  int    // element index, -1 for the array itself
	Reason string // what was wrong
}

func (e *ParamError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("sv1: invalid params for %s: %s", e.Method, e.Reason)
	}
	return fmt.Sprintf("sv1: invalid params for %s: element %d: %s", e.Method, e.Index, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalidParams) hold.
func (e *ParamError) Unwrap() error { return ErrInvalidParams }

func paramErr(method string, index int, reason string) error {
	return &ParamError{Method: method, Index: index, Reason: reason}
}

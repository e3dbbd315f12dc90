package sv1

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// De-facto Stratum V1 error codes (sv1.md section 6).
const (
	CodeOther          = 20 // other / unknown, also "Not supported."
	CodeJobNotFound    = 21 // job not found (= stale)
	CodeDuplicateShare = 22
	CodeLowDifficulty  = 23
	CodeUnauthorized   = 24 // unauthorized worker
	CodeNotSubscribed  = 25
	// CodePaused is hashgate's own, outside the de-facto table: the miner's gate is closed
	// (site power policy or operator), so a valid share was not forwarded and earns nothing.
	// Clients read the message; a code of its own keeps it apart from stale or low difficulty.
	CodePaused = 26

	CodeParseError     = -32700 // JSON-RPC 2.0
	CodeMethodNotFound = -32601 // JSON-RPC 2.0
)

// Error is a Stratum error as carried in a response's "error" member.
//
// On decode every form seen in the field is accepted (sv1.md section 6):
// the array [code, "message", data], a bare string, a JSON-RPC 2.0 object
// {"code","message","data"}, and ckpool's result:false + "reject-reason".
// Forms without a code get one from ClassifyReason. On encode it is always
// the array form [code,"message",data] that every client parses, with data
// null when Data is empty.
type Error struct {
	Code    int
	Message string
	Data    json.RawMessage // raw JSON of the third element; nil means null
}

// The standard error table used by hashgate's servers. These values are
// shared: never modify them; use NewError for others.
var (
	ErrOther          = &Error{Code: CodeOther, Message: "Other/Unknown"}
	ErrNotSupported   = &Error{Code: CodeOther, Message: "Not supported."}
	ErrJobNotFound    = &Error{Code: CodeJobNotFound, Message: "Job not found (=stale)"}
	ErrDuplicateShare = &Error{Code: CodeDuplicateShare, Message: "Duplicate share"}
	ErrLowDifficulty  = &Error{Code: CodeLowDifficulty, Message: "Low difficulty share"}
	ErrUnauthorized   = &Error{Code: CodeUnauthorized, Message: "Unauthorized worker"}
	ErrNotSubscribed  = &Error{Code: CodeNotSubscribed, Message: "Not subscribed"}
	ErrPaused         = &Error{Code: CodePaused, Message: "Paused by site power policy or operator: share not forwarded"}
)

// NewError returns an Error with a null data element.
func NewError(code int, message string) *Error {
	return &Error{Code: code, Message: message}
}

// StandardError returns the table entry for one of the codes 20..26, or an
// ErrOther-like value with that code otherwise.
func StandardError(code int) *Error {
	switch code {
	case CodeOther:
		return ErrOther
	case CodeJobNotFound:
		return ErrJobNotFound
	case CodeDuplicateShare:
		return ErrDuplicateShare
	case CodeLowDifficulty:
		return ErrLowDifficulty
	case CodeUnauthorized:
		return ErrUnauthorized
	case CodeNotSubscribed:
		return ErrNotSubscribed
	case CodePaused:
		return ErrPaused
	}
	return &Error{Code: code, Message: "Other/Unknown"}
}

func (e *Error) Error() string {
	return "stratum error " + strconv.Itoa(e.Code) + ": " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, sv1.ErrJobNotFound) holds for any stale reject.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// MarshalJSON emits the array form [code,"message",data].
func (e *Error) MarshalJSON() ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return json.Marshal([3]any{e.Code, e.Message, data})
}

// UnmarshalJSON accepts the array, string and object forms (null is left to
// the caller: a nil *Error means no error).
func (e *Error) UnmarshalJSON(raw []byte) error {
	p, err := parseError(raw)
	if err != nil {
		return err
	}
	if p == nil {
		return paramErr("error", -1, "null error")
	}
	*e = *p
	return nil
}

const errorField = "error"

// parseError decodes the "error" member. null and false mean no error.
// Unknown shapes are kept as an ErrOther carrying the raw text rather than
// failing the whole message: a reject must stay a reject.
func parseError(raw []byte) (*Error, error) {
	raw = bytes.TrimSpace(raw)
	switch kindOf(raw) {
	case 0, 'n', 'f':
		return nil, nil
	case '"':
		s, err := decodeString(errorField, -1, raw)
		if err != nil {
			return nil, err
		}
		return &Error{Code: ClassifyReason(s), Message: s}, nil
	case '[':
		var arr [4]json.RawMessage
		elems, err := splitArray(errorField, raw, arr[:0])
		if err != nil {
			return nil, err
		}
		if len(elems) == 0 {
			return &Error{Code: CodeOther, Message: ""}, nil
		}
		e := &Error{Code: CodeOther}
		if c, err := decodeInt(errorField, 0, elems[0], -1<<31, 1<<31-1); err == nil {
			e.Code = int(c)
		}
		if len(elems) > 1 {
			if kindOf(elems[1]) == '"' {
				if e.Message, err = decodeString(errorField, 1, elems[1]); err != nil {
					return nil, err
				}
			} else if kindOf(elems[1]) != 'n' {
				e.Message = validUTF8(elems[1])
			}
		}
		if len(elems) > 2 {
			e.Data = canonicalData(elems[2])
		}
		return e, nil
	case '{':
		var obj struct {
			Code    json.RawMessage `json:"code"`
			Message json.RawMessage `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, paramErr(errorField, -1, "malformed error object")
		}
		e := &Error{Code: CodeOther}
		if c, err := decodeInt(errorField, 0, obj.Code, -1<<31, 1<<31-1); err == nil {
			e.Code = int(c)
		}
		if kindOf(obj.Message) == '"' {
			e.Message, _ = decodeString(errorField, 1, obj.Message)
		}
		e.Data = canonicalData(obj.Data)
		return e, nil
	}
	return &Error{Code: CodeOther, Message: validUTF8(raw)}, nil
}

// validUTF8 converts raw JSON text to a message string the way
// encoding/json treats string bytes: each invalid byte becomes U+FFFD, so
// the message survives an encode/decode round trip unchanged.
func validUTF8(raw []byte) string {
	if utf8.Valid(raw) {
		return string(raw)
	}
	var b strings.Builder
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		b.WriteRune(r)
		raw = raw[n:]
	}
	return b.String()
}

// canonicalData returns the data element as json.Marshal would write it
// (compact, HTML-escaped), or nil for null, so that a decoded Error
// re-encodes and decodes to an equal value.
func canonicalData(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || kindOf(raw) == 'n' {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	return b
}

// ClassifyReason maps a free-text reject reason (ckpool's reject-reason,
// bare-string errors) onto the standard codes for statistics. Unknown texts
// are CodeOther.
func ClassifyReason(reason string) int {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "stale"), strings.Contains(r, "job not found"),
		strings.Contains(r, "invalid jobid"), strings.Contains(r, "unknown job"):
		return CodeJobNotFound
	case strings.Contains(r, "duplicate"):
		return CodeDuplicateShare
	case strings.Contains(r, "above target"), strings.Contains(r, "low difficulty"),
		strings.Contains(r, "difficulty too low"), strings.Contains(r, "high-hash"):
		return CodeLowDifficulty
	case strings.Contains(r, "unauthori"), strings.Contains(r, "worker mismatch"):
		return CodeUnauthorized
	case strings.Contains(r, "not subscribed"):
		return CodeNotSubscribed
	}
	return CodeOther
}

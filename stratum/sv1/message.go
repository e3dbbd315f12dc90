package sv1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Message is one decoded Stratum V1 line: the JSON-RPC 1.0 style envelope
// (sv1.md section 1). Params and Result stay raw; decode them with a typed
// value (UnmarshalParams, ParseParams, SubscribeResult, ConfigureResult).
//
//	request:      {"id":1,"method":"mining.submit","params":[...]}
//	notification: {"id":null,"method":"mining.notify","params":[...]}
//	response:     {"id":1,"result":true,"error":null}
type Message struct {
	// ID is the raw JSON id: a number, a string or null, exactly as received,
	// so that a reply echoes it with its JSON type. nil when the member was
	// absent; "null" when it was null. Use string(ID) as a map key to match
	// responses to requests.
	ID json.RawMessage

	// Method is empty for responses.
	Method string

	// Params is the raw params value (normally an array); nil when absent.
	Params json.RawMessage

	// Result is the raw result value; nil when absent, "null" when null.
	Result json.RawMessage

	// Error is nil when the response carries no error (absent, null or
	// false). It is also set from ckpool's result:false + reject-reason.
	Error *Error

	// RejectReason is ckpool's "reject-reason" member, if any.
	RejectReason string

	wire wireMessage // the line's private copy, reused by DecodeInto
}

// wireMessage holds the raw members of the envelope. They alias buf, the
// Message's private copy of the line, so one decode copies the line once.
type wireMessage struct {
	buf                                              []byte
	id, method, params, result, errorv, rejectReason []byte
}

// Decode parses one line (without its LF) into a new Message. The Message
// does not alias line, so line may be a LineReader buffer.
//
// Errors wrap ErrMalformedJSON (not JSON) or ErrInvalidMessage (JSON but not
// a Stratum message, or nested deeper than the codec accepts).
func Decode(line []byte) (*Message, error) {
	m := new(Message)
	if err := DecodeInto(m, line); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeInto is Decode into a caller-owned Message, reusing its buffer: the
// slices of the previous decode are overwritten. On error m is left in an
// unspecified state.
//
// Object members are matched like encoding/json matches struct fields
// (exact or case-insensitive, last duplicate wins); unknown members such as
// "jsonrpc" are validated and ignored.
func DecodeInto(m *Message, line []byte) error {
	w := m.wire
	w.buf = append(w.buf[:0], line...)
	w.id, w.method, w.params, w.result, w.errorv, w.rejectReason = nil, nil, nil, nil, nil, nil
	*m = Message{}
	if err := w.scan(); err != nil {
		m.wire.buf = w.buf
		return err
	}
	m.wire = w
	switch kindOf(w.id) {
	case 0:
	case '"', '0', 'n':
		m.ID = w.id
	default:
		return fmt.Errorf("%w: id must be a number, string or null", ErrInvalidMessage)
	}
	switch kindOf(w.method) {
	case 0, 'n':
	case '"':
		if body, ok := stringBody(w.method); ok {
			if s, ok := internMethod(body); ok {
				m.Method = s
				break
			}
		}
		s, err := decodeString("method", -1, w.method)
		if err != nil {
			return fmt.Errorf("%w: method: %w", ErrInvalidMessage, err)
		}
		m.Method = s
	default:
		return fmt.Errorf("%w: method must be a string", ErrInvalidMessage)
	}
	m.Params = w.params
	m.Result = w.result
	if m.Method == "" && w.result == nil && w.errorv == nil {
		return fmt.Errorf("%w: neither method nor result/error", ErrInvalidMessage)
	}
	var err error
	if m.Error, err = parseError(w.errorv); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if kindOf(w.rejectReason) == '"' {
		m.RejectReason, _ = decodeString("reject-reason", -1, w.rejectReason)
	}
	if m.Error == nil && m.RejectReason != "" && kindOf(m.Result) == 'f' {
		m.Error = &Error{Code: ClassifyReason(m.RejectReason), Message: m.RejectReason}
	}
	return nil
}

// scan walks the top-level object in w.buf, validating every value and
// keeping the members hashgate reads.
func (w *wireMessage) scan() error {
	b := w.buf
	i := skipSpace(b, 0)
	if i == len(b) {
		return fmt.Errorf("%w: empty line", ErrMalformedJSON)
	}
	if b[i] != '{' {
		end, err := skipValue(b, i, 0)
		if err != nil || skipSpace(b, end) != len(b) {
			return malformed(err)
		}
		return fmt.Errorf("%w: not a JSON object", ErrInvalidMessage)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return malformed(nil)
			}
			keyEnd, err := skipString(b, i)
			if err != nil {
				return malformed(err)
			}
			key := b[i:keyEnd]
			i = skipSpace(b, keyEnd)
			if i >= len(b) || b[i] != ':' {
				return malformed(nil)
			}
			i = skipSpace(b, i+1)
			end, err := skipValue(b, i, 1)
			if err != nil {
				return malformed(err)
			}
			w.assign(key, b[i:end:end])
			i = skipSpace(b, end)
			if i >= len(b) {
				return malformed(nil)
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return malformed(nil)
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return fmt.Errorf("%w: data after the object", ErrMalformedJSON)
	}
	return nil
}

func malformed(err error) error {
	if errors.Is(err, errTooDeep) {
		return fmt.Errorf("%w: nested deeper than %d", ErrInvalidMessage, maxDepth)
	}
	return fmt.Errorf("%w: syntax error", ErrMalformedJSON)
}

// assign stores a member's raw value by its key.
func (w *wireMessage) assign(key, val []byte) {
	name, ok := stringBody(key)
	if !ok {
		var s string
		if json.Unmarshal(key, &s) != nil {
			return
		}
		name = []byte(s)
	}
	var dst *[]byte
	switch {
	case string(name) == "id":
		dst = &w.id
	case string(name) == "method":
		dst = &w.method
	case string(name) == "params":
		dst = &w.params
	case string(name) == "result":
		dst = &w.result
	case string(name) == "error":
		dst = &w.errorv
	case string(name) == "reject-reason":
		dst = &w.rejectReason
	case bytes.EqualFold(name, []byte("id")):
		dst = &w.id
	case bytes.EqualFold(name, []byte("method")):
		dst = &w.method
	case bytes.EqualFold(name, []byte("params")):
		dst = &w.params
	case bytes.EqualFold(name, []byte("result")):
		dst = &w.result
	case bytes.EqualFold(name, []byte("error")):
		dst = &w.errorv
	case bytes.EqualFold(name, []byte("reject-reason")):
		dst = &w.rejectReason
	default:
		return
	}
	*dst = val
}

// IsRequest reports a method call that expects a reply (non-null id).
// Note that some pools send mining.set_version_mask with an id: treat it as
// a notification (sv1.md section 1).
func (m *Message) IsRequest() bool { return m.Method != "" && !IsNullID(m.ID) }

// IsNotification reports a method call with a null or absent id.
func (m *Message) IsNotification() bool { return m.Method != "" && IsNullID(m.ID) }

// IsResponse reports a reply: a message without a method.
func (m *Message) IsResponse() bool { return m.Method == "" }

// IsPong reports ESP-Miner's request-shaped reply to mining.ping
// ({"id":42,"method":"pong","params":[]}); cgminer replies with an ordinary
// response whose result is "pong" (sv1.md section 3.11).
func (m *Message) IsPong() bool { return m.Method == MethodPong }

// Accepted reports a response whose result is true and that carries no
// error: the success of mining.submit, mining.authorize and the like.
func (m *Message) Accepted() bool {
	return m.Method == "" && m.Error == nil && string(bytes.TrimSpace(m.Result)) == "true"
}

// UnmarshalParams decodes m.Params into p, whose Method must be m.Method.
// Absent or null params decode as an empty array.
func (m *Message) UnmarshalParams(p Params) error {
	if p.Method() != m.Method {
		return fmt.Errorf("%w: %s params for a %q message", ErrInvalidParams, p.Method(), m.Method)
	}
	return p.UnmarshalJSON(m.Params)
}

// ParseParams returns m's params as the typed value registered for
// m.Method, or an error wrapping ErrUnknownMethod.
func (m *Message) ParseParams() (Params, error) {
	p := NewParams(m.Method)
	if p == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMethod, m.Method)
	}
	if err := p.UnmarshalJSON(m.Params); err != nil {
		return nil, err
	}
	return p, nil
}

// IsNullID reports an absent or null id.
func IsNullID(id json.RawMessage) bool { return len(id) == 0 || isNull(id) }

// IntID returns the JSON id for n.
func IntID(n int64) json.RawMessage { return strconv.AppendInt(nil, n, 10) }

// StringID returns the JSON id for s (some firmware uses "subscribe", "auth").
func StringID(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

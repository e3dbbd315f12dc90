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

	wire wireMessage // reused across DecodeInto calls
}

// wireMessage is the envelope as json.Unmarshal sees it; every member stays
// raw so its JSON type can be checked and ids echoed byte for byte.
type wireMessage struct {
	ID           json.RawMessage `json:"id"`
	Method       json.RawMessage `json:"method"`
	Params       json.RawMessage `json:"params"`
	Result       json.RawMessage `json:"result"`
	Error        json.RawMessage `json:"error"`
	RejectReason json.RawMessage `json:"reject-reason"`
}

// Decode parses one line (without its LF) into a new Message. The Message
// does not alias line, so line may be a LineReader buffer.
//
// Errors wrap ErrMalformedJSON (not JSON) or ErrInvalidMessage (JSON but not
// a Stratum message).
func Decode(line []byte) (*Message, error) {
	m := new(Message)
	if err := DecodeInto(m, line); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeInto is Decode into a caller-owned Message, reusing its buffers: the
// slices of the previous decode are overwritten. On error m is left in an
// unspecified state.
func DecodeInto(m *Message, line []byte) error {
	w := &m.wire
	w.ID, w.Method, w.Params = w.ID[:0], w.Method[:0], w.Params[:0]
	w.Result, w.Error, w.RejectReason = w.Result[:0], w.Error[:0], w.RejectReason[:0]
	*m = Message{wire: m.wire}
	if err := json.Unmarshal(line, w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%w: not a JSON object", ErrInvalidMessage)
		}
		return fmt.Errorf("%w: %w", ErrMalformedJSON, err)
	}
	w = &m.wire
	switch kindOf(w.ID) {
	case 0:
	case '"', '0', 'n':
		m.ID = w.ID
	default:
		return fmt.Errorf("%w: id must be a number, string or null", ErrInvalidMessage)
	}
	switch kindOf(w.Method) {
	case 0, 'n':
	case '"':
		if body, ok := stringBody(w.Method); ok {
			if s, ok := internMethod(body); ok {
				m.Method = s
				break
			}
		}
		if err := json.Unmarshal(w.Method, &m.Method); err != nil {
			return fmt.Errorf("%w: method: %w", ErrInvalidMessage, err)
		}
	default:
		return fmt.Errorf("%w: method must be a string", ErrInvalidMessage)
	}
	if len(w.Params) > 0 {
		m.Params = w.Params
	}
	if len(w.Result) > 0 {
		m.Result = w.Result
	}
	if m.Method == "" && len(w.Result) == 0 && len(w.Error) == 0 {
		return fmt.Errorf("%w: neither method nor result/error", ErrInvalidMessage)
	}
	var err error
	if m.Error, err = parseError(w.Error); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if kindOf(w.RejectReason) == '"' {
		m.RejectReason, _ = decodeString("reject-reason", -1, w.RejectReason)
	}
	if m.Error == nil && m.RejectReason != "" && kindOf(m.Result) == 'f' {
		m.Error = &Error{Code: ClassifyReason(m.RejectReason), Message: m.RejectReason}
	}
	return nil
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

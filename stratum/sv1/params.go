package sv1

import "encoding/json"

// Params is the typed params of one method. UnmarshalJSON decodes the params
// array strictly by position (lengths and JSON types checked, extra trailing
// elements ignored, absent or null params treated as []); MarshalJSON
// writes it back as an array through json.Marshal.
type Params interface {
	// Method returns the method name the params belong to.
	Method() string
	json.Marshaler
	json.Unmarshaler
}

// NewParams returns a zero typed value for a known method, or nil.
func NewParams(method string) Params {
	switch method {
	case MethodSubscribe:
		return new(Subscribe)
	case MethodAuthorize:
		return new(Authorize)
	case MethodConfigure:
		return new(Configure)
	case MethodSetVersionMask:
		return new(SetVersionMask)
	case MethodSetDifficulty:
		return new(SetDifficulty)
	case MethodSuggestDifficulty:
		return new(SuggestDifficulty)
	case MethodSuggestTarget:
		return new(SuggestTarget)
	case MethodNotify:
		return new(Notify)
	case MethodSubmit:
		return new(Submit)
	case MethodExtranonceSubscribe:
		return new(ExtranonceSubscribe)
	case MethodSetExtranonce:
		return new(SetExtranonce)
	case MethodReconnect:
		return new(Reconnect)
	case MethodGetVersion:
		return new(GetVersion)
	case MethodShowMessage:
		return new(ShowMessage)
	case MethodPing:
		return new(Ping)
	case MethodPong:
		return new(Pong)
	case MethodMultiVersion:
		return new(MultiVersion)
	case MethodGetTransactions:
		return new(GetTransactions)
	}
	return nil
}

// paramsBuf is the stack capacity for splitting a params array; mining.notify
// has 9 or 10 elements.
const paramsBuf = 12

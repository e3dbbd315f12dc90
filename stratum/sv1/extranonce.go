package sv1

import (
	"encoding/hex"
	"encoding/json"
)

// ExtranonceSubscribe is the params of mining.extranonce.subscribe (NiceHash,
// sv1.md section 3.4): []. Extra elements are ignored.
type ExtranonceSubscribe struct{}

var _ Params = (*ExtranonceSubscribe)(nil)

// Method implements Params.
func (ExtranonceSubscribe) Method() string { return MethodExtranonceSubscribe }

// UnmarshalJSON implements Params.
func (*ExtranonceSubscribe) UnmarshalJSON(raw []byte) error {
	return decodeEmpty(MethodExtranonceSubscribe, raw)
}

// MarshalJSON implements Params.
func (ExtranonceSubscribe) MarshalJSON() ([]byte, error) { return []byte("[]"), nil }

// SetExtranonce is the params of mining.set_extranonce (sv1.md section 3.8):
// [extranonce1_hex, extranonce2_size]. Both are required.
type SetExtranonce struct {
	Extranonce1     []byte
	Extranonce2Size int
}

var _ Params = (*SetExtranonce)(nil)

// Method implements Params.
func (SetExtranonce) Method() string { return MethodSetExtranonce }

// UnmarshalJSON implements Params.
func (s *SetExtranonce) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodSetExtranonce, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 2 {
		return paramErr(MethodSetExtranonce, -1, "want [extranonce1, extranonce2_size]")
	}
	if s.Extranonce1, err = decodeHex(MethodSetExtranonce, 0, p[0], nil, MaxExtranonce1Size); err != nil {
		return err
	}
	n, err := decodeInt(MethodSetExtranonce, 1, p[1], 0, MaxExtranonce2Size)
	s.Extranonce2Size = int(n)
	return err
}

// MarshalJSON implements Params.
func (s SetExtranonce) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]any{hex.EncodeToString(s.Extranonce1), s.Extranonce2Size})
}

// decodeEmpty checks that raw is an array (or absent/null); the elements of
// parameterless methods are ignored.
func decodeEmpty(method string, raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	_, err := splitArray(method, raw, arr[:0])
	return err
}

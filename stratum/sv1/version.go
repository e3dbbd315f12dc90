package sv1

import "encoding/json"

// SetVersionMask is the params of mining.set_version_mask (BIP310, sv1.md
// section 3.7): ["1fffe000"]. Some pools send it with a non-null id; it is
// still a notification.
type SetVersionMask struct {
	Mask uint32
}

var _ Params = (*SetVersionMask)(nil)

// Method implements Params.
func (SetVersionMask) Method() string { return MethodSetVersionMask }

// UnmarshalJSON implements Params.
func (s *SetVersionMask) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodSetVersionMask, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return paramErr(MethodSetVersionMask, -1, "missing mask")
	}
	s.Mask, err = decodeHex32(MethodSetVersionMask, 0, p[0], false, false)
	return err
}

// MarshalJSON implements Params.
func (s SetVersionMask) MarshalJSON() ([]byte, error) {
	return json.Marshal([1]string{hex32(s.Mask)})
}

// MultiVersion is the params of Bitmain's pre-BIP310 mining.multi_version
// (sv1.md section 3.11): [1] or [4]. Answer true or ignore it.
type MultiVersion struct {
	Count int
}

var _ Params = (*MultiVersion)(nil)

// Method implements Params.
func (MultiVersion) Method() string { return MethodMultiVersion }

// UnmarshalJSON implements Params.
func (m *MultiVersion) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodMultiVersion, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return paramErr(MethodMultiVersion, -1, "missing count")
	}
	n, err := decodeInt(MethodMultiVersion, 0, p[0], 0, 1<<16)
	m.Count = int(n)
	return err
}

// MarshalJSON implements Params.
func (m MultiVersion) MarshalJSON() ([]byte, error) {
	return json.Marshal([1]int{m.Count})
}

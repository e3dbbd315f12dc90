package sv1

import "encoding/json"

// Authorize is the params of mining.authorize (sv1.md section 3.3):
// [username, password]. The password may be empty, "x", null or missing.
type Authorize struct {
	Username string
	Password string
}

var _ Params = (*Authorize)(nil)

// Method implements Params.
func (Authorize) Method() string { return MethodAuthorize }

// UnmarshalJSON implements Params.
func (a *Authorize) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodAuthorize, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return paramErr(MethodAuthorize, -1, "missing username")
	}
	*a = Authorize{}
	if a.Username, err = decodeString(MethodAuthorize, 0, p[0]); err != nil {
		return err
	}
	if len(p) > 1 {
		a.Password, err = decodeOptString(MethodAuthorize, 1, p[1])
	}
	return err
}

// MarshalJSON implements Params; it always writes both elements.
func (a Authorize) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]string{a.Username, a.Password})
}

package sv1

import (
	"encoding/hex"
	"encoding/json"
)

// Submit is the params of mining.submit (sv1.md section 3.10):
//
//	[worker, job_id, extranonce2, ntime, nonce]
//	[worker, job_id, extranonce2, ntime, nonce, version_bits]
//
// NTime, Nonce and VersionBits are the big-endian values of their hex text
// (1 to 8 digits; ntime and nonce may also be JSON numbers, a tolerance SRI
// has). A null sixth element counts as absent; further elements are
// ignored. What the version bits mean (BIP310 bits, XOR delta or full
// version) is the validator's concern.
type Submit struct {
	Worker         string
	JobID          string
	Extranonce2    []byte
	NTime          uint32
	Nonce          uint32
	VersionBits    uint32
	HasVersionBits bool
}

var _ Params = (*Submit)(nil)

// Method implements Params.
func (Submit) Method() string { return MethodSubmit }

// UnmarshalJSON implements Params. Extranonce2 reuses its capacity, so a
// Submit can be decoded into repeatedly.
func (s *Submit) UnmarshalJSON(raw []byte) error {
	const m = MethodSubmit
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(m, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 5 {
		return paramErr(m, -1, "want 5 or 6 elements")
	}
	if s.Worker, err = decodeStringReuse(m, 0, p[0], s.Worker); err != nil {
		return err
	}
	if s.JobID, err = decodeJobIDReuse(m, 1, p[1], s.JobID); err != nil {
		return err
	}
	if s.Extranonce2, err = decodeHex(m, 2, p[2], s.Extranonce2, MaxExtranonce2Size); err != nil {
		return err
	}
	if s.NTime, err = decodeHex32(m, 3, p[3], false, true); err != nil {
		return err
	}
	if s.Nonce, err = decodeHex32(m, 4, p[4], false, true); err != nil {
		return err
	}
	s.VersionBits, s.HasVersionBits = 0, false
	if len(p) > 5 && kindOf(p[5]) != 'n' {
		if s.VersionBits, err = decodeHex32(m, 5, p[5], false, false); err != nil {
			return err
		}
		s.HasVersionBits = true
	}
	return nil
}

// MarshalJSON implements Params; 6 elements when HasVersionBits.
func (s Submit) MarshalJSON() ([]byte, error) {
	en2 := hex.EncodeToString(s.Extranonce2)
	if s.HasVersionBits {
		return json.Marshal([6]string{s.Worker, s.JobID, en2, hex32(s.NTime), hex32(s.Nonce), hex32(s.VersionBits)})
	}
	return json.Marshal([5]string{s.Worker, s.JobID, en2, hex32(s.NTime), hex32(s.Nonce)})
}

// decodeStringReuse is decodeString returning old, without allocating, when the element
// spells it: a Submit decoded into again and again (a pooled scratch) sees the same worker
// name and job id share after share.
func decodeStringReuse(method string, idx int, raw []byte, old string) (string, error) {
	if body, ok := stringBody(raw); ok && string(body) == old {
		return old, nil
	}
	return decodeString(method, idx, raw)
}

// decodeJobIDReuse is decodeJobID with decodeStringReuse's reuse of old.
func decodeJobIDReuse(method string, idx int, raw []byte, old string) (string, error) {
	if kindOf(raw) == '0' {
		if string(raw) == old {
			return old, nil
		}
		return string(raw), nil
	}
	return decodeStringReuse(method, idx, raw, old)
}

// decodeJobID reads a job id: an opaque string, or a number kept as its
// literal text for firmware that echoes decimal ids unquoted.
func decodeJobID(method string, idx int, raw []byte) (string, error) {
	if kindOf(raw) == '0' {
		return string(raw), nil
	}
	return decodeString(method, idx, raw)
}

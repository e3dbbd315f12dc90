package sv1

import (
	"encoding/hex"
	"encoding/json"
)

// MaxBranch bounds the merkle branch of a notify; 17 levels already cover
// more transactions than fit in a block.
const MaxBranch = 32

// maxCoinbasePart bounds coinb1/coinb2; a line cannot be longer anyway.
const maxCoinbasePart = 1 << 20

// Notify is the params of mining.notify (sv1.md section 3.9):
//
//	[job_id, prevhash, coinb1, coinb2, [branch...], version, nbits, ntime, clean_jobs]
//
// Fields are decoded to bytes but keep the Stratum wire order: PrevHash is
// the 32 bytes of the hex string, i.e. the header bytes with each 4-byte word
// reversed (converting to header order is the business of stratum/work);
// Branch entries are used as-is; Version, NBits and NTime are the big-endian
// values of their 8 hex digits. The 10-element variant with ntime repeated
// is accepted: clean_jobs is taken from the last element when element 8 is
// not a boolean, as ESP-Miner does.
type Notify struct {
	JobID    string
	PrevHash [32]byte
	Coinb1   []byte
	Coinb2   []byte
	Branch   [][32]byte
	Version  uint32
	NBits    uint32
	NTime    uint32
	Clean    bool
}

var _ Params = (*Notify)(nil)

// Method implements Params.
func (Notify) Method() string { return MethodNotify }

// UnmarshalJSON implements Params. Coinb1, Coinb2 and Branch reuse their
// existing capacity, so a Notify can be decoded into repeatedly.
func (n *Notify) UnmarshalJSON(raw []byte) error {
	const m = MethodNotify
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(m, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 9 {
		return paramErr(m, -1, "want 9 elements")
	}
	if n.JobID, err = decodeJobID(m, 0, p[0]); err != nil {
		return err
	}
	if err = decodeHexFixed(m, 1, p[1], n.PrevHash[:]); err != nil {
		return err
	}
	if n.Coinb1, err = decodeHex(m, 2, p[2], n.Coinb1, maxCoinbasePart); err != nil {
		return err
	}
	if n.Coinb2, err = decodeHex(m, 3, p[3], n.Coinb2, maxCoinbasePart); err != nil {
		return err
	}
	var barr [MaxBranch]json.RawMessage
	if kindOf(p[4]) != '[' {
		return paramErr(m, 4, "merkle branch must be an array")
	}
	b, err := splitArray(m, p[4], barr[:0])
	if err != nil {
		return err
	}
	if len(b) > MaxBranch {
		return paramErr(m, 4, "merkle branch too long")
	}
	if cap(n.Branch) < len(b) {
		n.Branch = make([][32]byte, len(b))
	}
	n.Branch = n.Branch[:len(b)]
	for i, h := range b {
		if err := decodeHexFixed(m, 4, h, n.Branch[i][:]); err != nil {
			return err
		}
	}
	if n.Version, err = decodeHex32(m, 5, p[5], true, false); err != nil {
		return err
	}
	if n.NBits, err = decodeHex32(m, 6, p[6], true, false); err != nil {
		return err
	}
	if n.NTime, err = decodeHex32(m, 7, p[7], true, false); err != nil {
		return err
	}
	clean := p[8]
	if k := kindOf(clean); k != 't' && k != 'f' && len(p) >= 10 {
		clean = p[len(p)-1]
	}
	n.Clean, err = decodeBool(m, 8, clean)
	return err
}

// MarshalJSON implements Params through json.Marshal; AppendNotify is the
// fast path and is proven equal to it by FuzzAppendNotify.
func (n Notify) MarshalJSON() ([]byte, error) {
	branch := make([]string, len(n.Branch))
	for i := range n.Branch {
		branch[i] = hex.EncodeToString(n.Branch[i][:])
	}
	return json.Marshal([9]any{
		n.JobID,
		hex.EncodeToString(n.PrevHash[:]),
		hex.EncodeToString(n.Coinb1),
		hex.EncodeToString(n.Coinb2),
		branch,
		hex32(n.Version),
		hex32(n.NBits),
		hex32(n.NTime),
		n.Clean,
	})
}

// AppendNotify appends the complete mining.notify line for n, LF included:
// {"id":null,"method":"mining.notify","params":[...]}. Encode a job once and
// write the same bytes to every miner; it is byte-equal to
// AppendNotification(dst, n).
func AppendNotify(dst []byte, n *Notify) []byte {
	dst = append(dst, `{"id":null,"method":"mining.notify","params":[`...)
	dst = appendString(dst, n.JobID)
	dst = append(dst, ',')
	dst = appendHex(dst, n.PrevHash[:])
	dst = append(dst, ',')
	dst = appendHex(dst, n.Coinb1)
	dst = append(dst, ',')
	dst = appendHex(dst, n.Coinb2)
	dst = append(dst, ",["...)
	for i := range n.Branch {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendHex(dst, n.Branch[i][:])
	}
	dst = append(dst, "],"...)
	dst = appendHex32(dst, n.Version)
	dst = append(dst, ',')
	dst = appendHex32(dst, n.NBits)
	dst = append(dst, ',')
	dst = appendHex32(dst, n.NTime)
	if n.Clean {
		dst = append(dst, ",true]}\n"...)
	} else {
		dst = append(dst, ",false]}\n"...)
	}
	return dst
}

package sv2

import "fmt"

// TLV is one extension field appended to a core message (spec §3.4):
//
//	extension_type U16 | field_type U8 | length U16 | value[length]
//
// Type and length are little-endian, as SRI writes them; the spec's worked
// example (00 02 01 00 0A ...) is big-endian and does not interoperate.
type TLV struct {
	ExtensionType uint16
	FieldType     uint8
	Value         []byte
}

// Known TLV fields.
const (
	// TLVFieldUserIdentity is field 0x01 of extension 0x0002: the worker
	// name carried on every SubmitSharesExtended once negotiated.
	TLVFieldUserIdentity uint8 = 0x01
	// MaxUserIdentityTLV is the longest user_identity value (no padding).
	MaxUserIdentityTLV = 32
)

const (
	tlvHeaderSize = 5
	// maxTLVArea bounds the TLV bytes accepted after a message's own
	// fields. 0x0002 needs 37; the rest is room for future extensions.
	maxTLVArea = 4096
)

// maxTLVValue returns the limit of a known TLV, or MaxB064K.
func maxTLVValue(ext uint16, field uint8) int {
	if ext == ExtensionWorkerHashrateTracking && field == TLVFieldUserIdentity {
		return MaxUserIdentityTLV
	}
	return MaxB064K
}

// AppendTLV appends t to dst.
func AppendTLV(dst []byte, t TLV) ([]byte, error) {
	e := newEncoder(dst)
	e.tlv(&t)
	return e.done()
}

// ParseTLVs decodes a TLV area that fills b exactly. Unknown TLVs are kept
// for the caller to ignore or forward; a known TLV over its limit fails.
func ParseTLVs(b []byte) ([]TLV, error) {
	d := decoder{b: b}
	tlvs := d.tlvs()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return tlvs, nil
}

func (e *encoder) tlv(t *TLV) {
	if max := maxTLVValue(t.ExtensionType, t.FieldType); len(t.Value) > max {
		e.fail(tooLongErr(fmt.Sprintf("TLV 0x%04x/0x%02x", t.ExtensionType, t.FieldType), len(t.Value), max))
		return
	}
	e.u16(t.ExtensionType)
	e.u8(t.FieldType)
	e.u16(uint16(len(t.Value)))
	e.b = append(e.b, t.Value...)
}

func (e *encoder) tlvs(ts []TLV) {
	start := len(e.b)
	for i := range ts {
		e.tlv(&ts[i])
	}
	if n := len(e.b) - start; e.err == nil && n > maxTLVArea {
		e.fail(tooLongErr("TLV area", n, maxTLVArea))
	}
}

// tlvs reads TLVs up to the end of the payload.
func (d *decoder) tlvs() []TLV {
	if d.err != nil || d.remaining() == 0 {
		return nil
	}
	if d.remaining() > maxTLVArea {
		d.err = tooLongErr("TLV area", d.remaining(), maxTLVArea)
		return nil
	}
	var ts []TLV
	for d.err == nil && d.remaining() > 0 {
		var t TLV
		t.ExtensionType = d.u16()
		t.FieldType = d.u8()
		n := int(d.u16())
		if d.err != nil {
			return nil
		}
		if max := maxTLVValue(t.ExtensionType, t.FieldType); n > max {
			d.err = tooLongErr(fmt.Sprintf("TLV 0x%04x/0x%02x", t.ExtensionType, t.FieldType), n, max)
			return nil
		}
		if n > 0 {
			t.Value = d.take(n)
		}
		ts = append(ts, t)
	}
	if d.err != nil {
		return nil
	}
	return ts
}

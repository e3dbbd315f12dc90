package sv2

import (
	"encoding/binary"
	"fmt"
	"math"
)

// U256 is a 256-bit value exactly as on the wire (spec §3.1): 32 bytes read
// as a little-endian integer. Hashes (prev_hash, merkle_root, merkle path
// nodes) are therefore in block-header byte order, the reverse of display
// hex, and targets are little-endian integers.
type U256 [32]byte

// Option is OPTION[T] (spec §3.1), encoded as SEQ0_1[T]: a count byte of 0
// or 1, then T when the count is 1.
type Option[T any] struct {
	Value T
	Valid bool
}

// Some returns an Option holding v.
func Some[T any](v T) Option[T] { return Option[T]{Value: v, Valid: true} }

// Maximum lengths of the variable-length types (spec §3.1).
const (
	MaxStr0255 = 255
	MaxB032    = 32
	MaxB0255   = 255
	MaxB064K   = 1<<16 - 1
	MaxB016M   = 1<<24 - 1
	MaxSeq0255 = 255
	MaxSeq064K = 1<<16 - 1
)

// Encoded sizes, used to compute per-message maximum payloads.
const (
	sizeStr0255     = 1 + MaxStr0255
	sizeB032        = 1 + MaxB032
	sizeB0255       = 1 + MaxB0255
	sizeB064K       = 2 + MaxB064K
	sizeOptU32      = 1 + 4
	sizeSeq0255U256 = 1 + MaxSeq0255*32
)

// decoder reads fields from one payload. The first error sticks: later
// reads return zero values, so a message's Decode is a straight list of
// fields followed by finish.
type decoder struct {
	b   []byte
	off int
	err error
}

// take returns the next n bytes, aliasing the payload, or records a short
// payload. Every length is checked here, before anything is allocated.
func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.off {
		d.err = shortErr(n, d.off, len(d.b)-d.off)
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) u8() uint8 {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if p := d.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) u24() uint32 {
	if p := d.take(3); p != nil {
		return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) f32() float32 { return math.Float32frombits(d.u32()) }

// boolean reads a BOOL. Only bit 0 carries meaning; receivers must ignore
// bits 1-7 (spec §3.1, SRI decodes b&1).
func (d *decoder) boolean() bool { return d.u8()&1 == 1 }

func (d *decoder) u256() (v U256) {
	if p := d.take(32); p != nil {
		copy(v[:], p)
	}
	return v
}

// bytesN reads a length prefix of lenSize bytes and then that many bytes,
// rejecting lengths above max. A zero length decodes as nil.
func (d *decoder) bytesN(field string, lenSize, max int) []byte {
	var n int
	switch lenSize {
	case 1:
		n = int(d.u8())
	case 2:
		n = int(d.u16())
	default:
		n = int(d.u24())
	}
	if d.err != nil {
		return nil
	}
	if n > max {
		d.err = tooLongErr(field, n, max)
		return nil
	}
	if n == 0 {
		return nil
	}
	return d.take(n)
}

func (d *decoder) str0255(field string) string {
	return string(d.bytesN(field, 1, MaxStr0255))
}

func (d *decoder) b032(field string) []byte  { return d.bytesN(field, 1, MaxB032) }
func (d *decoder) b0255(field string) []byte { return d.bytesN(field, 1, MaxB0255) }
func (d *decoder) b064K(field string) []byte { return d.bytesN(field, 2, MaxB064K) }
func (d *decoder) b016M(field string) []byte { return d.bytesN(field, 3, MaxB016M) }

func (d *decoder) optU32() (o Option[uint32]) {
	switch n := d.u8(); {
	case d.err != nil:
	case n == 0:
	case n == 1:
		o = Some(d.u32())
	default:
		d.err = fmt.Errorf("%w: count %d at offset %d", ErrInvalidOption, n, d.off-1)
	}
	return o
}

// count reads a sequence count and checks that count*minElem bytes remain
// before the caller allocates the slice.
func (d *decoder) count(field string, lenSize, minElem int) int {
	var n int
	if lenSize == 1 {
		n = int(d.u8())
	} else {
		n = int(d.u16())
	}
	if d.err != nil {
		return 0
	}
	if n*minElem > d.remaining() {
		d.err = fmt.Errorf("%w: %s declares %d elements of at least %d bytes, %d bytes remain",
			ErrShortPayload, field, n, minElem, d.remaining())
		return 0
	}
	return n
}

func (d *decoder) seq0255U256(field string) []U256 {
	n := d.count(field, 1, 32)
	if n == 0 {
		return nil
	}
	s := make([]U256, n)
	for i := range s {
		s[i] = d.u256()
	}
	return s
}

func (d *decoder) seq064KU32(field string) []uint32 {
	n := d.count(field, 2, 4)
	if n == 0 {
		return nil
	}
	s := make([]uint32, n)
	for i := range s {
		s[i] = d.u32()
	}
	return s
}

func (d *decoder) seq064KU16(field string) []uint16 {
	n := d.count(field, 2, 2)
	if n == 0 {
		return nil
	}
	s := make([]uint16, n)
	for i := range s {
		s[i] = d.u16()
	}
	return s
}

func (d *decoder) seq064KB016M(field string) [][]byte {
	n := d.count(field, 2, 3)
	if n == 0 {
		return nil
	}
	s := make([][]byte, n)
	for i := range s {
		s[i] = d.b016M(field)
	}
	if d.err != nil {
		return nil
	}
	return s
}

// finish returns the sticky error, or ErrTrailingBytes if the payload was
// not consumed in full.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return fmt.Errorf("%w: %d bytes after offset %d", ErrTrailingBytes, len(d.b)-d.off, d.off)
	}
	return nil
}

// encoder appends fields to a buffer. The first error sticks, and done
// hands back the buffer as it was before encoding started, so a failed
// Encode never leaves a partial message behind.
type encoder struct {
	b     []byte
	start int
	err   error
}

func newEncoder(dst []byte) encoder { return encoder{b: dst, start: len(dst)} }

func (e *encoder) done() ([]byte, error) {
	if e.err != nil {
		return e.b[:e.start], e.err
	}
	return e.b, nil
}

func (e *encoder) u8(v uint8)    { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16)  { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u24(v uint32)  { e.b = append(e.b, byte(v), byte(v>>8), byte(v>>16)) }
func (e *encoder) u32(v uint32)  { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)  { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) f32(v float32) { e.u32(math.Float32bits(v)) }
func (e *encoder) u256(v *U256)  { e.b = append(e.b, v[:]...) }

func (e *encoder) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) bytesN(field string, lenSize, max int, p []byte) {
	if len(p) > max {
		e.fail(tooLongErr(field, len(p), max))
		return
	}
	switch lenSize {
	case 1:
		e.u8(uint8(len(p)))
	case 2:
		e.u16(uint16(len(p)))
	default:
		e.u24(uint32(len(p)))
	}
	e.b = append(e.b, p...)
}

func (e *encoder) str0255(field, s string) {
	if len(s) > MaxStr0255 {
		e.fail(tooLongErr(field, len(s), MaxStr0255))
		return
	}
	e.u8(uint8(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) b032(field string, p []byte)  { e.bytesN(field, 1, MaxB032, p) }
func (e *encoder) b0255(field string, p []byte) { e.bytesN(field, 1, MaxB0255, p) }
func (e *encoder) b064K(field string, p []byte) { e.bytesN(field, 2, MaxB064K, p) }
func (e *encoder) b016M(field string, p []byte) { e.bytesN(field, 3, MaxB016M, p) }

func (e *encoder) optU32(o Option[uint32]) {
	if !o.Valid {
		e.u8(0)
		return
	}
	e.u8(1)
	e.u32(o.Value)
}

func (e *encoder) seqCount(field string, lenSize, n int) bool {
	max := MaxSeq0255
	if lenSize == 2 {
		max = MaxSeq064K
	}
	if n > max {
		e.fail(tooLongErr(field, n, max))
		return false
	}
	if lenSize == 1 {
		e.u8(uint8(n))
	} else {
		e.u16(uint16(n))
	}
	return true
}

func (e *encoder) seq0255U256(field string, s []U256) {
	if e.seqCount(field, 1, len(s)) {
		for i := range s {
			e.u256(&s[i])
		}
	}
}

func (e *encoder) seq064KU32(field string, s []uint32) {
	if e.seqCount(field, 2, len(s)) {
		for _, v := range s {
			e.u32(v)
		}
	}
}

func (e *encoder) seq064KU16(field string, s []uint16) {
	if e.seqCount(field, 2, len(s)) {
		for _, v := range s {
			e.u16(v)
		}
	}
}

func (e *encoder) seq064KB016M(field string, s [][]byte) {
	if e.seqCount(field, 2, len(s)) {
		for _, p := range s {
			e.b016M(field, p)
		}
	}
}

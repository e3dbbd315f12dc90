package firmware

import (
	"encoding/binary"
	"errors"
	"math"
)

// A minimal protocol-buffers wire codec, enough for the handful of Braiins
// OS messages hashgate uses; it saves a code generator and a gRPC stack.
// Encoding follows protobuf's wire format: tag = field<<3 | wire type;
// varint (0), 64-bit (1), length-delimited (2), 32-bit (5).

const (
	pbVarint  = 0
	pbFixed64 = 1
	pbBytes   = 2
	pbFixed32 = 5
)

var errPBTruncated = errors.New("protobuf: truncated")

func pbAppendTag(b []byte, field, wt int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wt))
}

// pbAppendUint appends a varint field, omitting the proto3 default.
func pbAppendUint(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(pbAppendTag(b, field, pbVarint), v)
}

func pbAppendBool(b []byte, field int, v bool) []byte {
	if !v {
		return b
	}
	return pbAppendUint(b, field, 1)
}

// pbAppendBytes appends a string or embedded message, omitting empty ones
// unless always is set (a present-but-empty message).
func pbAppendBytes(b []byte, field int, p []byte, always bool) []byte {
	if len(p) == 0 && !always {
		return b
	}
	b = binary.AppendUvarint(pbAppendTag(b, field, pbBytes), uint64(len(p)))
	return append(b, p...)
}

func pbAppendDouble(b []byte, field int, v float64) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint64(pbAppendTag(b, field, pbFixed64), math.Float64bits(v))
}

// pbField is one decoded field: num and wire type, with the varint or
// fixed value in v, or the payload in p.
type pbField struct {
	num int
	wt  int
	v   uint64
	p   []byte
}

// pbWalk calls fn for each field of msg. Unknown fields are the caller's
// to ignore; malformed input is an error, never a panic.
func pbWalk(msg []byte, fn func(f pbField) error) error {
	for len(msg) > 0 {
		tag, n := binary.Uvarint(msg)
		if n <= 0 {
			return errPBTruncated
		}
		msg = msg[n:]
		f := pbField{num: int(tag >> 3), wt: int(tag & 7)}
		if f.num <= 0 || tag>>3 > math.MaxInt32 {
			return errors.New("protobuf: bad field number")
		}
		switch f.wt {
		case pbVarint:
			f.v, n = binary.Uvarint(msg)
			if n <= 0 {
				return errPBTruncated
			}
			msg = msg[n:]
		case pbFixed64:
			if len(msg) < 8 {
				return errPBTruncated
			}
			f.v, msg = binary.LittleEndian.Uint64(msg), msg[8:]
		case pbFixed32:
			if len(msg) < 4 {
				return errPBTruncated
			}
			f.v, msg = uint64(binary.LittleEndian.Uint32(msg)), msg[4:]
		case pbBytes:
			l, n := binary.Uvarint(msg)
			if n <= 0 || l > uint64(len(msg)-n) {
				return errPBTruncated
			}
			f.p, msg = msg[n:n+int(l)], msg[n+int(l):]
		default:
			return errors.New("protobuf: unsupported wire type")
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// expect checks a known field's wire type.
func (f pbField) expect(wt int) error {
	if f.wt != wt {
		return errors.New("protobuf: wrong wire type")
	}
	return nil
}

// pbNested decodes the single varint field num of an embedded message,
// e.g. Power{watt=1}.
func pbNestedUint(p []byte, num int) (uint64, error) {
	var v uint64
	err := pbWalk(p, func(f pbField) error {
		if f.num == num {
			if err := f.expect(pbVarint); err != nil {
				return err
			}
			v = f.v
		}
		return nil
	})
	return v, err
}

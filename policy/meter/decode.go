package meter

import (
	"fmt"
	"math"
)

// "Not implemented" sentinels (SunSpec Information Model Specification, point types). Many
// non-SunSpec meters use the same values for "no data", so custom registers honour them too.
const (
	notImplInt16  = 0x8000
	notImplUint16 = 0xFFFF
	notImplInt32  = 0x80000000
	notImplUint32 = 0xFFFFFFFF
	// maxScaleFactor bounds a SunSpec sunssf; the specification allows -10..10.
	maxScaleFactor = 10
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// join32 combines two registers into one 32-bit word in the given word order.
func join32(order WordOrder, regs []uint16) uint32 {
	if order == LowWordFirst {
		return uint32(regs[1])<<16 | uint32(regs[0])
	}
	return uint32(regs[0])<<16 | uint32(regs[1])
}

// split32 is the inverse of join32.
func split32(order WordOrder, v uint32) []uint16 {
	hi, lo := uint16(v>>16), uint16(v)
	if order == LowWordFirst {
		return []uint16{lo, hi}
	}
	return []uint16{hi, lo}
}

// decodeRegisters decodes one value of type t from regs, which must hold exactly t.words()
// registers. Sentinels decode to ErrNotImplemented and NaN/Inf floats to ErrNotFinite.
func decodeRegisters(t RegType, order WordOrder, regs []uint16) (float64, error) {
	if w := t.words(); w == 0 || len(regs) != w {
		return 0, fmt.Errorf("%w: %d registers for type %q", ErrPayload, len(regs), t)
	}
	switch t {
	case TypeInt16:
		if regs[0] == notImplInt16 {
			return 0, ErrNotImplemented
		}
		return float64(int16(regs[0])), nil
	case TypeUint16:
		if regs[0] == notImplUint16 {
			return 0, ErrNotImplemented
		}
		return float64(regs[0]), nil
	case TypeInt32:
		v := join32(order, regs)
		if v == notImplInt32 {
			return 0, ErrNotImplemented
		}
		return float64(int32(v)), nil
	case TypeUint32:
		v := join32(order, regs)
		if v == notImplUint32 {
			return 0, ErrNotImplemented
		}
		return float64(v), nil
	default: // TypeFloat32
		f := float64(math.Float32frombits(join32(order, regs)))
		if !finite(f) {
			return 0, fmt.Errorf("%w: float32 %v", ErrNotFinite, f)
		}
		return f, nil
	}
}

// encodeRegisters is the inverse of decodeRegisters for values the type can hold exactly;
// it exists so the decoder can be proven by round trips.
func encodeRegisters(t RegType, order WordOrder, v float64) ([]uint16, error) {
	switch t {
	case TypeInt16:
		if v != math.Trunc(v) || v < math.MinInt16+1 || v > math.MaxInt16 {
			return nil, fmt.Errorf("%v does not fit %s", v, t)
		}
		return []uint16{uint16(int16(v))}, nil
	case TypeUint16:
		if v != math.Trunc(v) || v < 0 || v >= notImplUint16 {
			return nil, fmt.Errorf("%v does not fit %s", v, t)
		}
		return []uint16{uint16(v)}, nil
	case TypeInt32:
		if v != math.Trunc(v) || v < math.MinInt32+1 || v > math.MaxInt32 {
			return nil, fmt.Errorf("%v does not fit %s", v, t)
		}
		return split32(order, uint32(int32(v))), nil
	case TypeUint32:
		if v != math.Trunc(v) || v < 0 || v >= notImplUint32 {
			return nil, fmt.Errorf("%v does not fit %s", v, t)
		}
		return split32(order, uint32(v)), nil
	case TypeFloat32:
		f := float32(v)
		if float64(f) != v {
			return nil, fmt.Errorf("%v does not fit %s", v, t)
		}
		return split32(order, math.Float32bits(f)), nil
	}
	return nil, fmt.Errorf("unknown type %q", t)
}

// scaleFactor decodes a SunSpec sunssf register: a signed power-of-ten exponent.
func scaleFactor(raw uint16) (int, error) {
	if raw == notImplInt16 {
		return 0, fmt.Errorf("%w: not implemented", ErrScaleFactor)
	}
	sf := int(int16(raw))
	if sf < -maxScaleFactor || sf > maxScaleFactor {
		return 0, fmt.Errorf("%w: %d", ErrScaleFactor, sf)
	}
	return sf, nil
}

// pow10 returns 10**sf for |sf| <= maxScaleFactor, exactly for the common small exponents.
func pow10(sf int) float64 {
	if sf < 0 {
		return 1 / math.Pow10(-sf)
	}
	return math.Pow10(sf)
}

package meter

import (
	"errors"
	"math"
	"testing"
)

func TestDecodeRegisters(t *testing.T) {
	cases := []struct {
		typ   RegType
		order WordOrder
		regs  []uint16
		want  float64
		err   error
	}{
		{TypeInt16, HighWordFirst, []uint16{0xFFFF}, -1, nil},
		{TypeInt16, HighWordFirst, []uint16{0x7FFF}, 32767, nil},
		{TypeInt16, HighWordFirst, []uint16{0x8000}, 0, ErrNotImplemented},
		{TypeUint16, HighWordFirst, []uint16{0xFFFE}, 65534, nil},
		{TypeUint16, HighWordFirst, []uint16{0xFFFF}, 0, ErrNotImplemented},
		{TypeInt32, HighWordFirst, []uint16{0xFFFF, 0xFFFE}, -2, nil},
		{TypeInt32, LowWordFirst, []uint16{0xFFFE, 0xFFFF}, -2, nil},
		{TypeInt32, HighWordFirst, []uint16{0x8000, 0x0000}, 0, ErrNotImplemented},
		{TypeUint32, HighWordFirst, []uint16{0x0001, 0x0000}, 65536, nil},
		{TypeUint32, LowWordFirst, []uint16{0x0000, 0x0001}, 65536, nil},
		{TypeUint32, HighWordFirst, []uint16{0xFFFF, 0xFFFF}, 0, ErrNotImplemented},
		{TypeFloat32, HighWordFirst, []uint16{0x4496, 0x0000}, 1200, nil}, // 1200.0
		{TypeFloat32, LowWordFirst, []uint16{0x0000, 0x4496}, 1200, nil},
		{TypeFloat32, HighWordFirst, []uint16{0x7FC0, 0x0000}, 0, ErrNotFinite}, // SunSpec float "not implemented"
		{TypeFloat32, HighWordFirst, []uint16{0x7F80, 0x0000}, 0, ErrNotFinite}, // +Inf
		{TypeFloat32, HighWordFirst, []uint16{0x4496}, 0, ErrPayload},
		{"int64", HighWordFirst, []uint16{1, 2, 3, 4}, 0, ErrPayload},
	}
	for _, tc := range cases {
		got, err := decodeRegisters(tc.typ, tc.order, tc.regs)
		if !errors.Is(err, tc.err) || (tc.err == nil && got != tc.want) {
			t.Errorf("%s %s %04x: got %v, %v; want %v, %v", tc.typ, tc.order, tc.regs, got, err, tc.want, tc.err)
		}
	}
}

func TestScaleFactor(t *testing.T) {
	for _, tc := range []struct {
		raw  uint16
		want int
		err  error
	}{
		{0, 0, nil}, {2, 2, nil}, {0xFFFE, -2, nil}, {10, 10, nil}, {0xFFF6, -10, nil},
		{11, 0, ErrScaleFactor}, {0xFFF5, 0, ErrScaleFactor}, {0x8000, 0, ErrScaleFactor},
	} {
		got, err := scaleFactor(tc.raw)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("sf %04x: got %d, %v", tc.raw, got, err)
		}
	}
	if v, err := scaled(15000, 2); v != 1_500_000 || err != nil {
		t.Errorf("scaled: %v %v", v, err)
	}
	if v, err := scaled(0xFFFF, 0xFFFF); v != -0.1 || err != nil {
		t.Errorf("scaled: %v %v", v, err)
	}
}

var regTypes = []RegType{TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeFloat32}

// FuzzDecodeRegisters: decode never panics, yields finite values, and decode → encode →
// decode is the identity.
func FuzzDecodeRegisters(f *testing.F) {
	f.Add(uint8(0), false, uint16(0x8000), uint16(0))
	f.Add(uint8(2), true, uint16(0xFFFE), uint16(0xFFFF))
	f.Add(uint8(4), false, uint16(0x4496), uint16(0))
	f.Add(uint8(4), false, uint16(0x7FC0), uint16(0))
	f.Add(uint8(3), true, uint16(0xFFFF), uint16(0xFFFF))
	f.Fuzz(func(t *testing.T, ti uint8, low bool, a, b uint16) {
		typ := regTypes[int(ti)%len(regTypes)]
		order := HighWordFirst
		if low {
			order = LowWordFirst
		}
		regs := []uint16{a, b}[:typ.words()]
		v, err := decodeRegisters(typ, order, regs)
		if err != nil {
			if !errors.Is(err, ErrNotImplemented) && !errors.Is(err, ErrNotFinite) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("decoded non-finite %v without error", v)
		}
		enc, err := encodeRegisters(typ, order, v)
		if err != nil {
			t.Fatalf("encode %v: %v", v, err)
		}
		v2, err := decodeRegisters(typ, order, enc)
		if err != nil || v2 != v {
			t.Fatalf("round trip %v -> %04x -> %v, %v", v, enc, v2, err)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"power.total", "$.a.b", ".emeters.0.power", "a..b", "", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, err := parsePath(p)
		if err != nil {
			return
		}
		if len(segs) == 0 || len(segs) > maxPathSegs {
			t.Fatalf("%q -> %d segments", p, len(segs))
		}
		for _, s := range segs {
			if s == "" {
				t.Fatalf("%q -> empty segment", p)
			}
		}
	})
}

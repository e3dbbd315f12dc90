package meter_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/meter"
	simmeter "github.com/hashgate/hashgate/sim/meter"
)

func TestDecodePayload(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name   string
		format meter.Format
		path   string
		in     string
		want   float64
		at     time.Time
		err    error
	}{
		{"plain", meter.FormatNumber, "", " 1234.5\n", 1234.5, time.Time{}, nil},
		{"quoted", meter.FormatNumber, "", `"-12"`, -12, time.Time{}, nil},
		{"nan", meter.FormatNumber, "", "NaN", 0, time.Time{}, meter.ErrNotFinite},
		{"huge", meter.FormatNumber, "", "1e999", 0, time.Time{}, meter.ErrNotFinite},
		{"word", meter.FormatNumber, "", "unavailable", 0, time.Time{}, meter.ErrPayload},
		{"path", meter.FormatJSON, "power.total", `{"power":{"total":4200,"l1":1}}`, 4200, time.Time{}, nil},
		{"path index", meter.FormatJSON, "emeters.1.power", `{"emeters":[{"power":1},{"power":2.5}]}`, 2.5, time.Time{}, nil},
		{"path jq", meter.FormatJSON, ".a", `{"a":"17.5"}`, 17.5, time.Time{}, nil},
		{"path missing", meter.FormatJSON, "power.total", `{"power":{}}`, 0, time.Time{}, meter.ErrPayload},
		{"path null", meter.FormatJSON, "p", `{"p":null}`, 0, time.Time{}, meter.ErrPayload},
		{"path bool", meter.FormatJSON, "p", `{"p":true}`, 0, time.Time{}, meter.ErrPayload},
		{"path through number", meter.FormatJSON, "p.q", `{"p":3}`, 0, time.Time{}, meter.ErrPayload},
		{"path bad index", meter.FormatJSON, "a.9", `{"a":[1]}`, 0, time.Time{}, meter.ErrPayload},
		{"malformed", meter.FormatJSON, "a", `{"a":`, 0, time.Time{}, meter.ErrPayload},
		{"shelly em", meter.FormatShelly, "", `{"id":0,"a_act_power":1,"total_act_power":-350.2}`, -350.2, time.Time{}, nil},
		{"shelly em1", meter.FormatShelly, "", `{"id":0,"act_power":12}`, 12, time.Time{}, nil},
		{"shelly switch", meter.FormatShelly, "", `{"id":0,"output":true,"apower":8.5}`, 8.5, time.Time{}, nil},
		{"shelly notify", meter.FormatShelly, "", `{"src":"s","method":"NotifyStatus","params":{"ts":` +
			strconv.FormatInt(ts.Unix(), 10) + `,"em:0":{"total_act_power":100},"em:1":{"total_act_power":50}}}`, 150, ts, nil},
		{"shelly notify no power", meter.FormatShelly, "", `{"method":"NotifyStatus","params":{"ts":1,"temperature:0":{"tC":40}}}`, 0, time.Time{}, nil},
		{"shelly no field", meter.FormatShelly, "", `{"id":0,"output":true}`, 0, time.Time{}, meter.ErrPayload},
		{"tasmota", meter.FormatTasmota, "", `{"Time":"2026-01-01T00:00:00","ENERGY":{"Total":1.2,"Power":431}}`, 431, time.Time{}, nil},
		{"tasmota list", meter.FormatTasmota, "", `{"ENERGY":{"Power":[100,20.5]}}`, 120.5, time.Time{}, nil},
		{"tasmota empty list", meter.FormatTasmota, "", `{"ENERGY":{"Power":[]}}`, 0, time.Time{}, meter.ErrPayload},
		{"tasmota no energy", meter.FormatTasmota, "", `{"ANALOG":{"A0":3}}`, 0, time.Time{}, meter.ErrPayload},
		{"auto number", meter.FormatAuto, "", `77`, 77, time.Time{}, nil},
		{"auto shelly", meter.FormatAuto, "", `{"apower":5}`, 5, time.Time{}, nil},
		{"auto tasmota", meter.FormatAuto, "", `{"ENERGY":{"Power":6}}`, 6, time.Time{}, nil},
		{"auto garbage", meter.FormatAuto, "", `{"x":1}`, 0, time.Time{}, meter.ErrPayload},
		{"auto binary", meter.FormatAuto, "", "\x00\xff", 0, time.Time{}, meter.ErrPayload},
		{"oversized", meter.FormatNumber, "", strings.Repeat(" ", meter.MaxPayload) + "1", 0, time.Time{}, meter.ErrPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, at, err := meter.DecodePayload(tc.format, tc.path, []byte(tc.in))
			if tc.name == "shelly notify no power" {
				if err == nil || errors.Is(err, meter.ErrPayload) {
					t.Fatalf("a notification without power must be skipped, not reported: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if v != tc.want || !at.Equal(tc.at) {
				t.Fatalf("got %v at %v, want %v at %v", v, at, tc.want, tc.at)
			}
		})
	}
}

// FuzzDecodePayload: no panic on any input; a decoded value is finite and survives being
// re-encoded as a plain number.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{`1234.5`, `{"power":{"total":1}}`, `{"total_act_power":-3}`, `{"ENERGY":{"Power":[1,2]}}`,
		`{"method":"NotifyStatus","params":{"ts":1.5,"em:0":{"total_act_power":9}}}`, `"12"`, `[1,2]`, `{"a":[{"b":"1e3"}]}`} {
		f.Add(uint8(0), "power.total", []byte(s))
		f.Add(uint8(2), "a.0.b", []byte(s))
	}
	formats := []meter.Format{meter.FormatAuto, meter.FormatNumber, meter.FormatJSON, meter.FormatShelly, meter.FormatTasmota}
	f.Fuzz(func(t *testing.T, fi uint8, path string, payload []byte) {
		format := formats[int(fi)%len(formats)]
		v, _, err := meter.DecodePayload(format, path, payload)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite %v without error", v)
		}
		enc := strconv.FormatFloat(v, 'g', -1, 64)
		v2, _, err := meter.DecodePayload(meter.FormatNumber, "", []byte(enc))
		if err != nil || v2 != v {
			t.Fatalf("re-decode %s: %v, %v", enc, v2, err)
		}
	})
}

// FuzzShapeRoundTrip: every shape the simulator publishes decodes back to the same watts,
// both with the explicit format and with auto-detection.
func FuzzShapeRoundTrip(f *testing.F) {
	f.Add(uint8(0), 1234.5)
	f.Add(uint8(1), -350.25)
	f.Add(uint8(4), 0.0)
	f.Add(uint8(5), 1e9)
	explicit := map[simmeter.Shape]meter.Format{
		simmeter.ShapeNumber: meter.FormatNumber, simmeter.ShapeShellyEM: meter.FormatShelly,
		simmeter.ShapeShellyEM1: meter.FormatShelly, simmeter.ShapeShellySwitch: meter.FormatShelly,
		simmeter.ShapeShellyNotify: meter.FormatShelly, simmeter.ShapeTasmota: meter.FormatTasmota,
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f.Fuzz(func(t *testing.T, si uint8, watts float64) {
		shape := simmeter.Shapes[int(si)%len(simmeter.Shapes)]
		payload, err := simmeter.EncodePayload(shape, watts, at)
		if math.IsNaN(watts) || math.IsInf(watts, 0) {
			if err == nil {
				t.Fatal("non-finite watts encoded")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []meter.Format{explicit[shape], meter.FormatAuto} {
			v, gotAt, err := meter.DecodePayload(format, "", payload)
			if err != nil || v != watts {
				t.Fatalf("%s as %s: %s -> %v, %v", shape, format, payload, v, err)
			}
			if shape == simmeter.ShapeShellyNotify && !gotAt.Equal(at) {
				t.Fatalf("notify ts: got %v want %v", gotAt, at)
			}
		}
	})
}

func TestParsePushBody(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want float64
		at   time.Time
		ok   bool
	}{
		{`{"value":12.5}`, 12.5, now, true},
		{`{"value":-1,"at":"2026-01-01T11:59:00Z"}`, -1, now.Add(-time.Minute), true},
		{`{"value":1,"at":"2026-01-01T12:00:30+00:00"}`, 1, now.Add(30 * time.Second), true},
		{`{"value":1,"at":"2026-01-01T12:05:00Z"}`, 0, time.Time{}, false},
		{`{"value":1,"at":"yesterday"}`, 0, time.Time{}, false},
		{`{"value":"1"}`, 0, time.Time{}, false},
		{`{"value":null}`, 0, time.Time{}, false},
		{`{}`, 0, time.Time{}, false},
		{`{"value":1,"unit":"W"}`, 0, time.Time{}, false},
		{`{"value":1}{"value":2}`, 0, time.Time{}, false},
		{`{"value":1} x`, 0, time.Time{}, false},
		{`{"value":1e999}`, 0, time.Time{}, false},
		{`[1]`, 0, time.Time{}, false},
		{``, 0, time.Time{}, false},
	} {
		v, at, err := meter.ParsePushBody([]byte(tc.in), now)
		if (err == nil) != tc.ok || (tc.ok && (v != tc.want || !at.Equal(tc.at))) {
			t.Errorf("%s: got %v %v %v", tc.in, v, at, err)
		}
		if err != nil && !errors.Is(err, meter.ErrPayload) {
			t.Errorf("%s: error %v is not ErrPayload", tc.in, err)
		}
	}
}

func FuzzParsePushBody(f *testing.F) {
	f.Add([]byte(`{"value":12.5,"at":"2026-01-01T11:59:00Z"}`))
	f.Add([]byte(`{"value":1}`))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		v, at, err := meter.ParsePushBody(body, now)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || at.After(now.Add(meter.MaxPushSkew)) {
			t.Fatalf("accepted %v at %v", v, at)
		}
		enc := `{"value":` + strconv.FormatFloat(v, 'g', -1, 64) + `,"at":"` + at.Format(time.RFC3339Nano) + `"}`
		v2, at2, err := meter.ParsePushBody([]byte(enc), now)
		if err != nil || v2 != v || !at2.Equal(at) {
			t.Fatalf("round trip %s: %v %v %v", enc, v2, at2, err)
		}
	})
}

package meter

import (
	"testing"

	"github.com/rs/zerolog"

	simmeter "github.com/hashgate/hashgate/sim/meter"
)

func BenchmarkDecodePayload(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format Format
		path   string
		in     string
	}{
		{"number", FormatNumber, "", "1234.5"},
		{"json_path", FormatJSON, "power.total", `{"power":{"total":4200,"l1":1400,"l2":1400,"l3":1400}}`},
		{"shelly_em", FormatShelly, "", `{"id":0,"a_current":1.2,"a_voltage":230.1,"a_act_power":270,"b_act_power":271,"c_act_power":272,"total_act_power":813}`},
		{"tasmota", FormatTasmota, "", `{"Time":"2026-01-01T00:00:00","ENERGY":{"Total":12.3,"Yesterday":1.2,"Today":0.4,"Power":431,"Voltage":230}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := []byte(bc.in)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodePayload(bc.format, bc.path, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkModbusPoll measures one poll of a real Modbus TCP simulator over loopback.
func BenchmarkModbusPoll(b *testing.B) {
	for _, m := range []MapName{MapSunSpec, MapSDM630, MapJanitza} {
		b.Run(string(m), func(b *testing.B) {
			srv, err := simmeter.NewModbusServer(simmeter.ModbusConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			srv.SetPower(1000)
			cfg := Config{Name: "b", Source: KindModbus, Address: srv.Addr(), Map: m}.WithDefaults()
			s, err := newModbusSource(base{cfg: cfg, log: zerolog.Nop(), clock: SystemClock{}, counters: new(counters)})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.client.Open(); err != nil {
				b.Fatal(err)
			}
			s.open = true
			defer s.disconnect()
			for b.Loop() {
				if v, err := s.poll(); err != nil || v != 1000 {
					b.Fatal(v, err)
				}
			}
		})
	}
}

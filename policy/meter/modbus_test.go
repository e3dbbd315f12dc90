package meter_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/meter"
	simmeter "github.com/hashgate/hashgate/sim/meter"
)

// startSim runs a real Modbus TCP simulator on loopback for the test.
func startSim(t *testing.T, cfg simmeter.ModbusConfig) *simmeter.ModbusServer {
	t.Helper()
	srv, err := simmeter.NewModbusServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

func modbusMeter(t *testing.T, addr string, mut func(*meter.Config)) meter.Source {
	t.Helper()
	cfg := meter.Config{
		Name: "grid", Source: meter.KindModbus, Address: addr,
		Interval: meter.Duration(meter.MinInterval), Timeout: meter.Duration(300 * time.Millisecond),
	}
	if mut != nil {
		mut(&cfg)
	}
	src, err := meter.New(cfg, zerologNop())
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestModbusSunSpecModels(t *testing.T) {
	for _, tc := range []struct {
		model uint16
		base  uint16
		watts float64
	}{
		{201, 40000, 1234},
		{202, 50000, -850.5},         // export, sub-watt resolution through W_SF = -1
		{203, 40000, 1_500_000},      // needs W_SF = 2
		{204, 50000, -3_276_700},     // needs W_SF = 2 and is negative
		{211, 40000, 987654.5},       // float32 model
		{213, 50000, -12.25},         // float32 model, export
		{214, 40000, 2.5e6},          // float32 model
		{203, 40000, 32767},          // int16 limit with W_SF = 0
		{201, 50000, 0},              // zero is a value, not "not implemented"
		{203, 40000, -32767 * 10},    // W_SF = 1
		{202, 40000, 0.25 * 4 * 1.5}, // 1.5 W with W_SF = -2
	} {
		t.Run(fmt.Sprintf("model%d@%d/%v", tc.model, tc.base, tc.watts), func(t *testing.T) {
			srv := startSim(t, simmeter.ModbusConfig{SunSpecModel: tc.model, SunSpecBase: tc.base})
			srv.SetPower(tc.watts)
			out := run(t, modbusMeter(t, srv.Addr(), nil))
			r := waitFor(t, out, "with the set power", func(r meter.Reading) bool { return r.OK() })
			if want := tc.watts / 1000; math.Abs(r.Value-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("got %v kW, want %v", r.Value, want)
			}
			if r.Meter != "grid" || r.Role != meter.RoleSiteImport || r.At.IsZero() {
				t.Fatalf("reading %+v", r)
			}
		})
	}
}

func TestModbusFrequency(t *testing.T) {
	for _, m := range []meter.MapName{meter.MapSunSpec, meter.MapSDM630, meter.MapJanitza} {
		t.Run(string(m), func(t *testing.T) {
			srv := startSim(t, simmeter.ModbusConfig{})
			srv.SetFrequency(49.75)
			out := run(t, modbusMeter(t, srv.Addr(), func(c *meter.Config) { c.Map, c.Role = m, meter.RoleFrequency }))
			waitFor(t, out, "49.75 Hz", good(49.75))
		})
	}
}

func TestModbusBuiltinMaps(t *testing.T) {
	for _, m := range []meter.MapName{meter.MapSDM630, meter.MapJanitza} {
		t.Run(string(m), func(t *testing.T) {
			srv := startSim(t, simmeter.ModbusConfig{UnitID: 7})
			srv.SetPower(-42500)
			out := run(t, modbusMeter(t, srv.Addr(), func(c *meter.Config) { c.Map, c.UnitID = m, 7 }))
			waitFor(t, out, "-42.5 kW", good(-42.5))
			srv.SetPower(123456)
			waitFor(t, out, "123.456 kW", good(123.456))
		})
	}
}

func TestModbusCustomMap(t *testing.T) {
	srv := startSim(t, simmeter.ModbusConfig{SunSpecModel: 203})
	srv.SetPower(90000) // SunSpec W = 9000, W_SF = 1; phases 3000 each
	sf := uint16(40000 + 2 + 68 + 22)
	out := run(t, modbusMeter(t, srv.Addr(), func(c *meter.Config) {
		c.Map = meter.MapCustom
		c.Registers = []meter.Register{
			// the three SunSpec phase powers with W_SF, summed
			{Address: 40000 + 2 + 68 + 19, Type: meter.TypeInt16, ScaleFactorRegister: &sf},
			{Address: 40000 + 2 + 68 + 20, Type: meter.TypeInt16, ScaleFactorRegister: &sf},
			{Address: 40000 + 2 + 68 + 21, Type: meter.TypeInt16, ScaleFactorRegister: &sf},
			// plus the SDM630 power as a float32 input register, halved
			{Address: 0x0034, Function: meter.FunctionInput, Type: meter.TypeFloat32, Scale: 0.5},
		}
	}))
	waitFor(t, out, "135 kW", good(135))
}

func TestModbusGarbage(t *testing.T) {
	for _, tc := range []struct {
		m      meter.MapName
		model  uint16
		fault  simmeter.Fault
		target error
	}{
		{meter.MapSunSpec, 203, simmeter.FaultNotImplemented, meter.ErrNotImplemented},
		{meter.MapSunSpec, 203, simmeter.FaultBadScaleFactor, meter.ErrScaleFactor},
		{meter.MapSunSpec, 213, simmeter.FaultNotImplemented, meter.ErrNotFinite},
		{meter.MapSunSpec, 203, simmeter.FaultException, meter.ErrDeviceException},
		{meter.MapSDM630, 0, simmeter.FaultNotImplemented, meter.ErrNotFinite},
		{meter.MapJanitza, 0, simmeter.FaultBadScaleFactor, meter.ErrNotFinite},
		{meter.MapJanitza, 0, simmeter.FaultException, meter.ErrDeviceException},
	} {
		t.Run(fmt.Sprintf("%s-%d-fault%d", tc.m, tc.model, tc.fault), func(t *testing.T) {
			srv := startSim(t, simmeter.ModbusConfig{SunSpecModel: tc.model})
			srv.SetPower(5000)
			src := modbusMeter(t, srv.Addr(), func(c *meter.Config) { c.Map = tc.m })
			out := run(t, src)
			waitFor(t, out, "before the fault", good(5))
			srv.SetFault(tc.fault)
			r := waitFor(t, out, "invalid", quality(meter.QualityInvalid, tc.target))
			if r.Value != 0 || r.OK() {
				t.Fatalf("invalid reading carries a value: %+v", r)
			}
			srv.SetFault(simmeter.FaultNone)
			waitFor(t, out, "after the fault", good(5))
			if st := src.Stats(); st.Invalid == 0 || st.Reconnects != 0 {
				t.Fatalf("stats %+v: want invalid readings and no reconnect (exceptions keep the link)", st)
			}
		})
	}
}

func TestModbusNoSunSpec(t *testing.T) {
	// A gateway answers for unit 1 only; asking unit 9 turns every SunSpec probe into an
	// exception, so discovery must report that no marker was found, without dropping the link.
	srv := startSim(t, simmeter.ModbusConfig{UnitID: 1})
	src := modbusMeter(t, srv.Addr(), func(c *meter.Config) { c.UnitID = 9 })
	out := run(t, src)
	waitFor(t, out, "no SunSpec marker", quality(meter.QualityInvalid, meter.ErrSunSpecNotFound))
	if st := src.Stats(); st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestModbusServerDownThenUp(t *testing.T) {
	srv := startSim(t, simmeter.ModbusConfig{})
	srv.SetPower(2000)
	src := modbusMeter(t, srv.Addr(), nil)
	out := run(t, src)
	waitFor(t, out, "while up", good(2))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "unavailable while down", quality(meter.QualityUnavailable, meter.ErrUnavailable))
	srv.SetPower(3000)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "after restart", good(3))
	if st := src.Stats(); st.Reconnects == 0 || st.Unavailable == 0 {
		t.Fatalf("stats %+v: want a reconnect and unavailable readings", st)
	}
}

func TestModbusNothingListening(t *testing.T) {
	srv := startSim(t, simmeter.ModbusConfig{})
	addr := srv.Addr()
	_ = srv.Stop()
	out := run(t, modbusMeter(t, addr, nil))
	waitFor(t, out, "unavailable", quality(meter.QualityUnavailable, meter.ErrUnavailable))
}

func TestModbusTimeoutReconnects(t *testing.T) {
	srv := startSim(t, simmeter.ModbusConfig{})
	srv.SetPower(1000)
	src := modbusMeter(t, srv.Addr(), func(c *meter.Config) { c.Timeout = meter.Duration(100 * time.Millisecond) })
	out := run(t, src)
	waitFor(t, out, "before the stall", good(1))
	srv.SetFault(simmeter.FaultStall)
	waitFor(t, out, "timeout", quality(meter.QualityUnavailable, meter.ErrUnavailable))
	srv.SetFault(simmeter.FaultNone)
	waitFor(t, out, "after the stall", good(1))
	if st := src.Stats(); st.Reconnects == 0 {
		t.Fatalf("stats %+v: a timeout must drop and re-open the connection", st)
	}
}

package meter

import (
	"errors"
	"io"
	"log"
	"math"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

func client(t *testing.T, addr string) *modbus.ModbusClient {
	t.Helper()
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: 2 * time.Second, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestModbusServerRegisterImage(t *testing.T) {
	s, err := NewModbusServer(ModbusConfig{SunSpecModel: 204, SunSpecBase: 50000})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	s.SetPower(-1_234_500)
	c := client(t, s.Addr())

	hdr, err := c.ReadRegisters(50000, 4, modbus.HOLDING_REGISTER)
	if err != nil || hdr[0] != 0x5375 || hdr[1] != 0x6E53 || hdr[2] != 1 || hdr[3] != commonLen {
		t.Fatalf("SunSpec header %04x %v", hdr, err)
	}
	model := uint16(50000 + 2 + 2 + commonLen)
	m, err := c.ReadRegisters(model, 23, modbus.HOLDING_REGISTER)
	if err != nil || m[0] != 204 || m[1] != meterIntLen {
		t.Fatalf("model header %v %v", m[:2], err)
	}
	if w, sf := int16(m[18]), int16(m[22]); float64(w)*math.Pow10(int(sf)) != -1_234_500 {
		t.Fatalf("W=%d W_SF=%d", w, sf)
	}
	end, err := c.ReadRegisters(model+2+meterIntLen, 2, modbus.HOLDING_REGISTER)
	if err != nil || end[0] != 0xFFFF || end[1] != 0 {
		t.Fatalf("end model %04x %v", end, err)
	}
	c.SetEncoding(modbus.BIG_ENDIAN, modbus.HIGH_WORD_FIRST)
	if f, err := c.ReadFloat32(sdm630Power, modbus.INPUT_REGISTER); err != nil || f != -1_234_500 {
		t.Fatalf("SDM630 power %v %v", f, err)
	}
	if f, err := c.ReadFloat32(janitzaPower, modbus.HOLDING_REGISTER); err != nil || f != -1_234_500 {
		t.Fatalf("Janitza power %v %v", f, err)
	}
	if _, err := c.ReadRegisters(1000, 1, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Fatalf("unmapped read: %v", err)
	}
	if err := c.WriteRegister(janitzaPower, 1); !errors.Is(err, modbus.ErrIllegalFunction) {
		t.Fatalf("write: %v", err)
	}
}

func TestScaledPicksFittingFactor(t *testing.T) {
	for _, v := range []float64{0, 1.25, -327.67, 32767, -32767, 1e6, -3.2767e12} {
		w, sf := toScaled(v)
		if got := float64(int16(w)) * math.Pow10(int(int16(sf))); math.Abs(got-v) > 1e-9*math.Max(1, math.Abs(v)) {
			t.Errorf("%v -> %d * 10^%d = %v", v, int16(w), int16(sf), got)
		}
	}
	if w, sf := toScaled(1e20); w != 0x8000 || sf != 0x8000 {
		t.Errorf("out of range must read not-implemented, got %04x %04x", w, sf)
	}
}

func TestNewModbusServerRejects(t *testing.T) {
	if _, err := NewModbusServer(ModbusConfig{SunSpecModel: 103}); err == nil {
		t.Error("inverter model accepted as a meter")
	}
	if _, err := NewModbusServer(ModbusConfig{SunSpecBase: 1234}); err == nil {
		t.Error("odd SunSpec base accepted")
	}
}

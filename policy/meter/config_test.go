package meter_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hashgate/hashgate/policy/meter"
)

func TestExampleConfigParsesAndValidates(t *testing.T) {
	var file struct {
		Meter []meter.Config `toml:"meter"`
	}
	md, err := toml.DecodeFile("../../testdata/meter/meters.example.toml", &file)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("unknown keys in example: %v", und)
	}
	if len(file.Meter) != 12 {
		t.Fatalf("got %d meters, want 12", len(file.Meter))
	}
	for _, c := range file.Meter {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	grid := file.Meter[0].WithDefaults()
	if grid.Interval.D() != 500*time.Millisecond || grid.Timeout.D() != 300*time.Millisecond || grid.Unit != "W" {
		t.Errorf("grid = %+v", grid)
	}
	if got := file.Meter[1].WithDefaults().Address; got != "10.0.0.21:502" {
		t.Errorf("default port: got %q", got)
	}
	pv := file.Meter[4].WithDefaults()
	if len(pv.Registers) != 3 || pv.Registers[0].WordOrder != meter.LowWordFirst || pv.Registers[0].Function != meter.FunctionHolding || pv.Scale != -1 {
		t.Errorf("pv = %+v", pv)
	}
	if aux := file.Meter[5]; aux.Registers[0].ScaleFactorRegister == nil || *aux.Registers[0].ScaleFactorRegister != 44 {
		t.Errorf("aux scale_factor_register not decoded: %+v", aux.Registers[0])
	}
	if p := file.Meter[8].WithDefaults(); p.Format != meter.FormatJSON {
		t.Errorf("json_path must select format json, got %q", p.Format)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	modbus := func(mut func(*meter.Config)) meter.Config {
		c := meter.Config{Name: "m", Source: meter.KindModbus, Address: "127.0.0.1:502"}
		mut(&c)
		return c
	}
	u16 := uint16(3)
	cases := []struct {
		key string
		cfg meter.Config
	}{
		{"name", modbus(func(c *meter.Config) { c.Name = "" })},
		{"name", modbus(func(c *meter.Config) { c.Name = "a/b" })},
		{"role", modbus(func(c *meter.Config) { c.Role = "pv" })},
		{"source", modbus(func(c *meter.Config) { c.Source = "snmp" })},
		{"interval", modbus(func(c *meter.Config) { c.Interval = meter.Duration(time.Millisecond) })},
		{"timeout", modbus(func(c *meter.Config) { c.Timeout = -1 })},
		{"unit", modbus(func(c *meter.Config) { c.Unit = "kW" })},
		{"unit", modbus(func(c *meter.Config) {
			c.Map = meter.MapCustom
			c.Unit = "VA"
			c.Registers = []meter.Register{{Type: meter.TypeInt16}}
		})},
		{"role", modbus(func(c *meter.Config) { c.Role = meter.RolePrice })},
		{"address", modbus(func(c *meter.Config) { c.Address = "" })},
		{"map", modbus(func(c *meter.Config) { c.Map = "iem3000" })},
		{"registers", modbus(func(c *meter.Config) { c.Registers = []meter.Register{{Type: meter.TypeInt16}} })},
		{"registers", modbus(func(c *meter.Config) { c.Map = meter.MapCustom })},
		{"registers[0].type", modbus(func(c *meter.Config) { c.Map = meter.MapCustom; c.Registers = []meter.Register{{Type: "int64"}} })},
		{"registers[0].address", modbus(func(c *meter.Config) {
			c.Map = meter.MapCustom
			c.Registers = []meter.Register{{Address: 65535, Type: meter.TypeFloat32}}
		})},
		{"registers[0].word_order", modbus(func(c *meter.Config) {
			c.Map = meter.MapCustom
			c.Registers = []meter.Register{{Type: meter.TypeInt32, WordOrder: "middle"}}
		})},
		{"registers[1].function", modbus(func(c *meter.Config) {
			c.Map = meter.MapCustom
			c.Registers = []meter.Register{{Type: meter.TypeInt16}, {Type: meter.TypeInt16, Function: "coil"}}
		})},
		{"registers[0].scale_factor_register", modbus(func(c *meter.Config) {
			c.Map = meter.MapCustom
			c.Registers = []meter.Register{{Type: meter.TypeFloat32, ScaleFactorRegister: &u16}}
		})},
		{"broker", meter.Config{Name: "m", Source: meter.KindMQTT, Topic: "t"}},
		{"broker", meter.Config{Name: "m", Source: meter.KindMQTT, Broker: "http://x:1", Topic: "t"}},
		{"topic", meter.Config{Name: "m", Source: meter.KindMQTT, Broker: "tcp://x:1883", Topic: "a/#"}},
		{"format", meter.Config{Name: "m", Source: meter.KindMQTT, Broker: "tcp://x:1883", Topic: "t", Format: "xml"}},
		{"json_path", meter.Config{Name: "m", Source: meter.KindMQTT, Broker: "tcp://x:1883", Topic: "t", Format: meter.FormatJSON, JSONPath: "a..b"}},
		{"json_path", meter.Config{Name: "m", Source: meter.KindMQTT, Broker: "tcp://x:1883", Topic: "t", Format: meter.FormatShelly, JSONPath: "a"}},
		{"url", meter.Config{Name: "m", Source: meter.KindHTTP}},
		{"url", meter.Config{Name: "m", Source: meter.KindHTTP, URL: "ftp://x/y"}},
		{"url", meter.Config{Name: "m", Source: meter.KindHTTP, URL: "http://x/y", PushToken: strings.Repeat("t", 20)}},
		{"push_token", meter.Config{Name: "m", Source: meter.KindHTTP, PushToken: "short"}},
		{"trace", meter.Config{Name: "m", Source: meter.KindSim}},
		{"trace[1].offset", meter.Config{Name: "m", Source: meter.KindSim, Trace: []meter.TracePoint{{Offset: 10}, {Offset: 5}}}},
		{"unit", meter.Config{Name: "m", Source: meter.KindSim, Role: meter.RoleFrequency, Unit: "kHz", Trace: []meter.TracePoint{{}}}},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		var ce *meter.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, meter.ErrConfig) {
			t.Errorf("%s: got %v, want a ConfigError", tc.key, err)
			continue
		}
		if ce.Key != tc.key || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("got key %q (%v), want %q", ce.Key, err, tc.key)
		}
	}
}

func TestDefaultConfigNeedsOnlyIdentity(t *testing.T) {
	c := meter.DefaultConfig()
	c.Name, c.Source, c.Address = "grid", meter.KindModbus, "127.0.0.1:1502"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := meter.New(meter.Config{Name: "x", Source: "snmp"}, zerologNop()); !errors.Is(err, meter.ErrConfig) {
		t.Fatalf("New with bad config: %v", err)
	}
}

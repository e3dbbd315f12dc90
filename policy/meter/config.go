package meter

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
)

// Kind selects how a meter is read.
type Kind string

// Source kinds (the `source` key).
const (
	KindModbus Kind = "modbus" // Modbus TCP polling
	KindMQTT   Kind = "mqtt"   // MQTT subscription
	KindHTTP   Kind = "http"   // HTTP JSON polling (url) or push endpoint (push_token)
	KindSim    Kind = "sim"    // a trace played on the injected clock
)

// MapName selects a Modbus register map (the `map` key).
type MapName string

// Modbus register maps.
const (
	MapSunSpec MapName = "sunspec"        // SunSpec meter model 201–204 or 211–214, discovered
	MapSDM630  MapName = "eastron_sdm630" // Eastron SDM630 input registers
	MapJanitza MapName = "janitza"        // Janitza UMG 96RM/604/508 float block at 19000
	MapCustom  MapName = "custom"         // the `registers` list
)

// Format says how an MQTT or HTTP payload carries its value (the `format` key).
type Format string

// Payload formats.
const (
	// FormatAuto tries, in order: a plain number, the Shelly Gen2 shapes, the Tasmota shape.
	// Setting json_path selects FormatJSON.
	FormatAuto    Format = "auto"
	FormatNumber  Format = "number"  // the payload is one JSON number, e.g. `1234.5`
	FormatJSON    Format = "json"    // the number at json_path, e.g. `power.total`
	FormatShelly  Format = "shelly"  // Shelly Gen2: total_act_power, act_power or apower, also inside NotifyStatus
	FormatTasmota Format = "tasmota" // Tasmota tele/<topic>/SENSOR: ENERGY.Power (a list is summed)
)

// RegType is the encoding of a Modbus value.
type RegType string

// Register types.
const (
	TypeInt16   RegType = "int16"
	TypeUint16  RegType = "uint16"
	TypeInt32   RegType = "int32"
	TypeUint32  RegType = "uint32"
	TypeFloat32 RegType = "float32"
)

// words returns how many 16-bit registers the type spans (0 for an unknown type).
func (t RegType) words() int {
	switch t {
	case TypeInt16, TypeUint16:
		return 1
	case TypeInt32, TypeUint32, TypeFloat32:
		return 2
	}
	return 0
}

// WordOrder is the order of the two registers of a 32-bit value.
type WordOrder string

// Word orders. Bytes within a register are always big-endian, as Modbus defines.
const (
	HighWordFirst WordOrder = "high_first" // the Modbus convention (SunSpec, Eastron, Janitza)
	LowWordFirst  WordOrder = "low_first"
)

// Function is the Modbus table a register is read from.
type Function string

// Register tables.
const (
	FunctionHolding Function = "holding" // function code 0x03
	FunctionInput   Function = "input"   // function code 0x04
)

// Register is one entry of a custom register map. A custom map's value is the sum of its
// registers, so three per-phase powers add up to the total.
type Register struct {
	Address   uint16    `toml:"address"`    // zero-based register address (the PDU address, not 4xxxx)
	Function  Function  `toml:"function"`   // holding (default) or input
	Type      RegType   `toml:"type"`       // int16, uint16, int32, uint32 or float32
	WordOrder WordOrder `toml:"word_order"` // high_first (default) or low_first, for 32-bit types
	Scale     float64   `toml:"scale"`      // multiplier applied to the raw value; 0 means 1
	// ScaleFactorRegister, when set, is the address (same table) of a SunSpec-style int16
	// power-of-ten exponent applied to the raw value, e.g. W_SF.
	ScaleFactorRegister *uint16 `toml:"scale_factor_register"`
}

// TracePoint is one step of a simulated meter: from Offset after start the meter reads Value
// (in the meter's unit) until the next point.
type TracePoint struct {
	Offset Duration `toml:"offset"`
	Value  float64  `toml:"value"`
}

// Duration is a config duration ("500ms").
type Duration = tomltime.Duration

// Config is one `[[meter]]` table. Keys that do not apply to the chosen source are ignored.
// Zero values mean the defaults of [DefaultConfig] (see [Config.WithDefaults]), so a config
// decoded straight from TOML is complete once defaulted.
type Config struct {
	Name     string   `toml:"name"`     // unique; letters, digits, '.', '_' and '-' (it appears in the push URL)
	Role     Role     `toml:"role"`     // site_import, ai_load, mining_load, price or frequency
	Source   Kind     `toml:"source"`   // modbus, mqtt, http or sim
	Interval Duration `toml:"interval"` // poll period (modbus, http poll) or sample period (sim); default 1s
	Timeout  Duration `toml:"timeout"`  // per Modbus/HTTP request; default 1s
	// Unit of the device's raw value. Power roles: "W" (default), "kW" or "MW"; readings are
	// converted to kW. Frequency: "Hz". Price: free text passed to the engine (e.g. "EUR/MWh").
	// The sim source's default is "kW". Built-in Modbus maps always read W.
	Unit string `toml:"unit"`
	// Scale multiplies the value after unit conversion; 0 means 1. Use -1 to flip a meter
	// whose sign convention is export-positive.
	Scale float64 `toml:"scale"`

	// Modbus TCP.
	Address   string     `toml:"address"`   // host:port; port defaults to 502
	UnitID    uint8      `toml:"unit_id"`   // Modbus unit (slave) id; default 1
	Map       MapName    `toml:"map"`       // sunspec (default), eastron_sdm630, janitza or custom
	Registers []Register `toml:"registers"` // map = "custom" only; at most 16

	// MQTT. A broker closes the older session when a client connects with an id in use, so
	// client_id must be unique on the broker; unset, every start makes one.
	Broker   string `toml:"broker"`    // tcp://host:1883, ssl://host:8883, ws://…
	Topic    string `toml:"topic"`     // e.g. shellypro3em-abc/status/em:0 or tele/meter/SENSOR
	ClientID string `toml:"client_id"` // default hashgate-<hostname>-<name>-<6 random hex digits>
	Username string `toml:"username"`
	Password string `toml:"password"`

	// Payload decoding (MQTT and HTTP poll).
	Format   Format `toml:"format"`    // auto (default), number, json, shelly or tasmota
	JSONPath string `toml:"json_path"` // dot path for format json, e.g. "power.total" or "emeters.0.power"

	// HTTP: set exactly one of URL (poll) and PushToken (push endpoint).
	URL       string `toml:"url"`
	PushToken string `toml:"push_token"` // bearer token the pusher must send; at least 16 characters

	// Simulated meter: Trace or TraceFile (CSV lines "offset,value", offset a Go duration).
	Trace     []TracePoint `toml:"trace"`
	TraceFile string       `toml:"trace_file"`
	Loop      bool         `toml:"loop"` // replay the trace from the start after its last point
}

// Limits enforced by Validate.
const (
	MinInterval      = 50 * time.Millisecond
	MaxInterval      = time.Hour
	MaxRegisters     = 16
	MinPushTokenLen  = 16
	defaultModbusTCP = "502"
)

// DefaultConfig returns the defaults every meter starts from.
func DefaultConfig() Config {
	return Config{
		Role:     RoleSiteImport,
		Interval: Duration(time.Second),
		Timeout:  Duration(time.Second),
		Scale:    1,
		UnitID:   1,
		Map:      MapSunSpec,
		Format:   FormatAuto,
	}
}

// WithDefaults returns c with every unset key given its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Role == "" {
		c.Role = d.Role
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.Scale == 0 {
		c.Scale = d.Scale
	}
	if c.UnitID == 0 {
		c.UnitID = d.UnitID
	}
	if c.Map == "" {
		c.Map = d.Map
	}
	if c.Format == "" || (c.Format == FormatAuto && c.JSONPath != "") {
		c.Format = d.Format
		if c.JSONPath != "" {
			c.Format = FormatJSON
		}
	}
	if c.Unit == "" {
		switch {
		case c.Role == RoleFrequency:
			c.Unit = "Hz"
		case c.Role.IsPower() && c.Source == KindSim:
			c.Unit = "kW"
		case c.Role.IsPower():
			c.Unit = "W"
		}
	}
	if c.Source == KindModbus && c.Address != "" {
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			c.Address = net.JoinHostPort(strings.Trim(c.Address, "[]"), defaultModbusTCP)
		}
	}
	for i := range c.Registers {
		r := &c.Registers[i]
		if r.Function == "" {
			r.Function = FunctionHolding
		}
		if r.WordOrder == "" {
			r.WordOrder = HighWordFirst
		}
		if r.Scale == 0 {
			r.Scale = 1
		}
	}
	return c
}

// ConfigError is a Validate failure. It matches ErrConfig with errors.Is.
type ConfigError struct {
	Meter string // the meter's name, possibly empty
	Key   string // the TOML key at fault, e.g. "registers[1].type"
	Msg   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("meter %q: %s: %s", e.Meter, e.Key, e.Msg)
}

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

var powerUnits = map[string]float64{"W": 0.001, "kW": 1, "MW": 1000}

// Validate reports the first invalid key of c (after defaults), as a *ConfigError.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Meter: c.Name, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if !nameRE.MatchString(c.Name) {
		return bad("name", "must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if !c.Role.valid() {
		return bad("role", "unknown role %q (want site_import, ai_load, mining_load, price or frequency)", c.Role)
	}
	if iv := c.Interval.D(); iv < MinInterval || iv > MaxInterval {
		return bad("interval", "%s is outside %s..%s", iv, MinInterval, MaxInterval)
	}
	if c.Timeout <= 0 {
		return bad("timeout", "must be positive")
	}
	if math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) {
		return bad("scale", "must be a finite number")
	}
	switch {
	case c.Role.IsPower():
		if _, ok := powerUnits[c.Unit]; !ok {
			return bad("unit", "%q is not a power unit (want W, kW or MW)", c.Unit)
		}
	case c.Role == RoleFrequency:
		if c.Unit != "Hz" {
			return bad("unit", "frequency meters read Hz, not %q", c.Unit)
		}
	}
	switch c.Source {
	case KindModbus:
		return c.validateModbus(bad)
	case KindMQTT:
		if err := c.validateBroker(bad); err != nil {
			return err
		}
		return c.validateFormat(bad)
	case KindHTTP:
		return c.validateHTTP(bad)
	case KindSim:
		return c.validateSim(bad)
	}
	return bad("source", "unknown source %q (want modbus, mqtt, http or sim)", c.Source)
}

type badFunc func(key, format string, args ...any) error

func (c Config) validateModbus(bad badFunc) error {
	host, port, err := net.SplitHostPort(c.Address)
	if c.Address == "" || err != nil || host == "" || port == "" {
		return bad("address", "want host:port, got %q", c.Address)
	}
	switch c.Map {
	case MapSunSpec, MapSDM630, MapJanitza:
		if len(c.Registers) > 0 {
			return bad("registers", "only allowed with map = \"custom\"")
		}
		if !c.Role.IsPower() && c.Role != RoleFrequency {
			return bad("role", "map %q reads power or frequency, not %s", c.Map, c.Role)
		}
		if c.Role.IsPower() && c.Unit != "W" {
			return bad("unit", "map %q reads W; leave unit unset or \"W\"", c.Map)
		}
	case MapCustom:
		if len(c.Registers) == 0 || len(c.Registers) > MaxRegisters {
			return bad("registers", "map = \"custom\" needs 1..%d registers, got %d", MaxRegisters, len(c.Registers))
		}
		for i, r := range c.Registers {
			key := fmt.Sprintf("registers[%d]", i)
			w := r.Type.words()
			if w == 0 {
				return bad(key+".type", "unknown type %q (want int16, uint16, int32, uint32 or float32)", r.Type)
			}
			if int(r.Address)+w-1 > math.MaxUint16 {
				return bad(key+".address", "%d plus %d registers runs past 65535", r.Address, w)
			}
			if r.Function != FunctionHolding && r.Function != FunctionInput {
				return bad(key+".function", "unknown table %q (want holding or input)", r.Function)
			}
			if r.WordOrder != HighWordFirst && r.WordOrder != LowWordFirst {
				return bad(key+".word_order", "unknown word order %q (want high_first or low_first)", r.WordOrder)
			}
			if math.IsNaN(r.Scale) || math.IsInf(r.Scale, 0) {
				return bad(key+".scale", "must be a finite number")
			}
			if r.ScaleFactorRegister != nil && r.Type == TypeFloat32 {
				return bad(key+".scale_factor_register", "not meaningful for float32")
			}
		}
	default:
		return bad("map", "unknown map %q (want sunspec, eastron_sdm630, janitza or custom)", c.Map)
	}
	return nil
}

func (c Config) validateBroker(bad badFunc) error {
	u, err := url.Parse(c.Broker)
	if c.Broker == "" || err != nil || u.Host == "" {
		return bad("broker", "want a URL such as tcp://host:1883, got %q", c.Broker)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return bad("broker", "unsupported scheme %q (want tcp, ssl, ws or wss)", u.Scheme)
	}
	if c.Topic == "" || strings.ContainsRune(c.Topic, '#') || strings.ContainsRune(c.Topic, 0) {
		return bad("topic", "want a topic without '#' (one meter is one device), got %q", c.Topic)
	}
	return nil
}

func (c Config) validateFormat(bad badFunc) error {
	switch c.Format {
	case FormatAuto, FormatNumber, FormatShelly, FormatTasmota:
		if c.JSONPath != "" {
			return bad("json_path", "only used with format = \"json\"")
		}
	case FormatJSON:
		if _, err := parsePath(c.JSONPath); err != nil {
			return bad("json_path", "%v", err)
		}
	default:
		return bad("format", "unknown format %q (want auto, number, json, shelly or tasmota)", c.Format)
	}
	return nil
}

func (c Config) validateHTTP(bad badFunc) error {
	switch {
	case c.URL != "" && c.PushToken != "":
		return bad("url", "set either url (poll) or push_token (push), not both")
	case c.URL != "":
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("url", "want an http(s) URL, got %q", c.URL)
		}
		return c.validateFormat(bad)
	case c.PushToken != "":
		if len(c.PushToken) < MinPushTokenLen {
			return bad("push_token", "must be at least %d characters", MinPushTokenLen)
		}
		return nil
	}
	return bad("url", "an http meter needs url (poll) or push_token (push)")
}

func (c Config) validateSim(bad badFunc) error {
	if (len(c.Trace) == 0) == (c.TraceFile == "") {
		return bad("trace", "set exactly one of trace and trace_file")
	}
	return validateTrace(c.Trace, bad)
}

func validateTrace(tr []TracePoint, bad badFunc) error {
	for i, p := range tr {
		key := fmt.Sprintf("trace[%d]", i)
		if p.Offset < 0 || (i > 0 && p.Offset < tr[i-1].Offset) {
			return bad(key+".offset", "offsets must be non-negative and non-decreasing")
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			return bad(key+".value", "must be a finite number")
		}
	}
	return nil
}

// toOutput converts a raw device value into the reading's unit (kW for powers).
func (c Config) toOutput(raw float64) float64 {
	if f, ok := powerUnits[c.Unit]; ok && c.Role.IsPower() {
		raw *= f
	}
	return raw * c.Scale
}

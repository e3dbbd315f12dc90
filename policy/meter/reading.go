package meter

import (
	"errors"
	"time"
)

// Role says what a meter measures, and so how the engine uses its readings.
type Role string

// Roles a meter can play.
const (
	RoleSiteImport Role = "site_import" // power drawn from the grid at the point of connection (kW, export negative)
	RoleAILoad     Role = "ai_load"     // the co-located AI/datacentre load (kW)
	RoleMiningLoad Role = "mining_load" // the mining fleet's own feed (kW), used to confirm sheds
	RolePrice      Role = "price"       // energy price, in the meter's configured unit
	RoleFrequency  Role = "frequency"   // grid frequency (Hz)
)

// IsPower reports whether readings of this role are powers, converted to kW.
func (r Role) IsPower() bool {
	return r == RoleSiteImport || r == RoleAILoad || r == RoleMiningLoad
}

func (r Role) valid() bool {
	return r.IsPower() || r == RolePrice || r == RoleFrequency
}

// Quality grades a reading. The engine must only act on [QualityGood] values.
type Quality uint8

// Reading qualities.
const (
	// QualityGood: Value is a measurement the device vouched for.
	QualityGood Quality = iota
	// QualityInvalid: the device answered but the value is unusable (NaN, a "not implemented"
	// sentinel, a bad scale factor, a malformed payload, a Modbus exception).
	QualityInvalid
	// QualityUnavailable: the device could not be reached (connection refused, timeout,
	// broker connection lost).
	QualityUnavailable
)

// String returns the quality's name for logs and the console.
func (q Quality) String() string {
	switch q {
	case QualityGood:
		return "good"
	case QualityInvalid:
		return "invalid"
	case QualityUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// Reading is one value from one meter.
type Reading struct {
	Meter   string    // the meter's configured name
	Role    Role      // what the value measures
	Value   float64   // kW for power roles, Hz for frequency, the configured unit for price; 0 unless Quality is good
	At      time.Time // source timestamp when the device sent one, else the time the value was received
	Quality Quality
	Err     error // why the reading is not good; nil when Quality is QualityGood
}

// OK reports whether the reading carries a usable value.
func (r Reading) OK() bool { return r.Quality == QualityGood && r.Err == nil }

// Errors carried in [Reading.Err] and returned by constructors. Readings wrap them with detail;
// test with errors.Is.
var (
	// ErrNotImplemented: a register held the "not implemented" sentinel of its type
	// (SunSpec: int16 0x8000, uint16 0xFFFF, int32 0x80000000, uint32 0xFFFFFFFF).
	ErrNotImplemented = errors.New("meter: value not implemented by device")
	// ErrNotFinite: the value decoded to NaN or ±Inf.
	ErrNotFinite = errors.New("meter: value is not finite")
	// ErrScaleFactor: a SunSpec scale factor was missing or outside -10..10.
	ErrScaleFactor = errors.New("meter: invalid scale factor")
	// ErrPayload: an MQTT or HTTP payload had no usable value.
	ErrPayload = errors.New("meter: malformed payload")
	// ErrDeviceException: the Modbus device answered with an exception response.
	ErrDeviceException = errors.New("meter: device exception")
	// ErrUnavailable: the device or broker could not be reached.
	ErrUnavailable = errors.New("meter: device unavailable")
	// ErrSunSpecNotFound: no "SunS" marker at any of the probed base addresses.
	ErrSunSpecNotFound = errors.New("meter: SunSpec marker not found")
	// ErrNoMeterModel: the SunSpec device has no meter model (201–204, 211–214).
	ErrNoMeterModel = errors.New("meter: no SunSpec meter model")
	// ErrConfig: a configuration key is invalid; the error text names the key.
	ErrConfig = errors.New("meter: invalid config")
)

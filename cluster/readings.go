package cluster

import (
	"math"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// Readings are meter readings an instance took, on hashgate.<site>.meter.<instance>. Any
// instance may read a meter; the leader's policy takes every instance's readings.
type Readings struct {
	Instance string         `json:"instance"`
	Readings []MeterReading `json:"readings"`
}

var _ Message = (*Readings)(nil)

// MeterReading is policy.Reading on the wire. A faulty meter's reading is sent with Fault
// set (JSON has no NaN), and becomes a NaN reading again at the receiver.
type MeterReading struct {
	Role  policy.Role `json:"role"`
	Value float64     `json:"value"`
	Fault bool        `json:"fault,omitempty"`
	At    time.Time   `json:"at"`
}

// ReadingOf is r on the wire.
func ReadingOf(r policy.Reading) MeterReading {
	if !finite(r.Value) {
		return MeterReading{Role: r.Role, Fault: true, At: r.At}
	}
	return MeterReading{Role: r.Role, Value: r.Value, At: r.At}
}

// Reading is the engine's reading.
func (r MeterReading) Reading() policy.Reading {
	v := r.Value
	if r.Fault {
		v = math.NaN()
	}
	return policy.Reading{Role: r.Role, Value: v, At: r.At}
}

// maxReadings bounds one message: an instance reads a handful of meters.
const maxReadings = 64

// Validate implements Message.
func (m *Readings) Validate() error {
	if !name.MatchString(m.Instance) {
		return badf("readings: instance %q", m.Instance)
	}
	if len(m.Readings) > maxReadings {
		return badf("readings: %d, more than %d", len(m.Readings), maxReadings)
	}
	for _, r := range m.Readings {
		if !r.Role.Valid() || !finite(r.Value) || math.Abs(r.Value) > 1e9 || r.At.IsZero() {
			return badf("readings: %v %v at %v", r.Role, r.Value, r.At)
		}
	}
	return nil
}

// DecodeReadings parses and checks a readings message.
func DecodeReadings(b []byte) (*Readings, error) {
	var m Readings
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

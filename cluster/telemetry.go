package cluster

import "time"

// Telemetry is measured power of an instance's miners (firmware telemetry), batched, on
// hashgate.<site>.power.<instance>.
type Telemetry struct {
	Instance string        `json:"instance"`
	Power    []PowerSample `json:"power"`
}

var _ Message = (*Telemetry)(nil)

// PowerSample is one miner's measured draw at a time.
type PowerSample struct {
	ID string    `json:"id"`
	KW float64   `json:"kw"`
	At time.Time `json:"at"`
}

// Validate implements Message.
func (m *Telemetry) Validate() error {
	if !name.MatchString(m.Instance) {
		return badf("telemetry: instance %q", m.Instance)
	}
	if len(m.Power) > MaxMinersPerMessage {
		return badf("telemetry: %d samples, more than %d", len(m.Power), MaxMinersPerMessage)
	}
	for _, p := range m.Power {
		if !idOK(p.ID) || !kwOK(p.KW) || p.At.IsZero() {
			return badf("telemetry: sample %q %v kW at %v", p.ID, p.KW, p.At)
		}
	}
	return nil
}

// DecodeTelemetry parses and checks a telemetry message.
func DecodeTelemetry(b []byte) (*Telemetry, error) {
	var m Telemetry
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

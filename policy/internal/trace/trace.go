// Package trace reads and writes hashgate's meter traces: JSON lines, a metadata line first,
// then one sample per line in time order. Traces drive the policy engine's golden tests.
package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/hashgate/hashgate/policy"
)

// MaxLine caps one line; longer input is rejected before it is buffered further.
const MaxLine = 64 << 10

// ErrFormat is wrapped by every decoding error.
var ErrFormat = errors.New("trace: bad format")

// Window is a time span in seconds from the start of the trace.
type Window struct {
	FromS float64 `json:"from_s"`
	ToS   float64 `json:"to_s"`
}

// Contains reports whether t falls in [FromS, ToS).
func (w Window) Contains(t float64) bool { return t >= w.FromS && t < w.ToS }

// MeterFault makes a meter misbehave during a window: "dropout" sends nothing; "value" sends
// Value instead of the truth.
type MeterFault struct {
	Window
	Role  policy.Role `json:"role"`
	Kind  string      `json:"kind"`
	Value float64     `json:"value,omitempty"`
}

// DR is a demand-response event: site import at most TargetKW during the window.
type DR struct {
	Window
	TargetKW float64 `json:"target_kw"`
}

// Meta describes the trace and the plant it runs against.
type Meta struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	DurationS   float64 `json:"duration_s"`
	// ShedDelayS and RestoreDelayS are how long firmware takes from command to the new draw.
	ShedDelayS    float64 `json:"shed_delay_s"`
	RestoreDelayS float64 `json:"restore_delay_s"`
	// Unresponsive miners acknowledge a pause but keep drawing (silent firmware no-op).
	Unresponsive int          `json:"unresponsive,omitempty"`
	Faults       []MeterFault `json:"faults,omitempty"`
	DR           []DR         `json:"dr,omitempty"`
}

// Sample is one exogenous reading: the true value of Role at T seconds. Power is kW.
type Sample struct {
	T     float64     `json:"t"`
	Role  policy.Role `json:"role"`
	Value float64     `json:"value"`
}

// Trace is a decoded trace file.
type Trace struct {
	Meta    Meta
	Samples []Sample
}

type metaLine struct {
	Meta *Meta `json:"meta"`
}

// Decode reads a whole trace, checking structure and time order.
func Decode(r io.Reader) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	var t Trace
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if line == 1 {
			var ml metaLine
			if err := strict(b, &ml); err != nil || ml.Meta == nil {
				return nil, fmt.Errorf("%w: line 1: want {\"meta\":{...}}: %v", ErrFormat, err)
			}
			if err := ml.Meta.check(); err != nil {
				return nil, fmt.Errorf("%w: meta: %v", ErrFormat, err)
			}
			t.Meta = *ml.Meta
			continue
		}
		var s Sample
		if err := strict(b, &s); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrFormat, line, err)
		}
		if !s.Role.Valid() || !finite(s.T) || !finite(s.Value) || s.T < 0 {
			return nil, fmt.Errorf("%w: line %d: bad sample", ErrFormat, line)
		}
		if n := len(t.Samples); n > 0 && s.T < t.Samples[n-1].T {
			return nil, fmt.Errorf("%w: line %d: time goes backwards", ErrFormat, line)
		}
		t.Samples = append(t.Samples, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("%w: empty", ErrFormat)
	}
	return &t, nil
}

// Encode writes t in the format Decode reads.
func Encode(w io.Writer, t *Trace) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(metaLine{Meta: &t.Meta}); err != nil {
		return err
	}
	for i := range t.Samples {
		if err := enc.Encode(&t.Samples[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func (m *Meta) check() error {
	for _, v := range []float64{m.DurationS, m.ShedDelayS, m.RestoreDelayS} {
		if !finite(v) || v < 0 {
			return errors.New("durations must be finite and >= 0")
		}
	}
	if m.Unresponsive < 0 {
		return errors.New("unresponsive must be >= 0")
	}
	for _, f := range m.Faults {
		if !f.Role.Valid() || (f.Kind != "dropout" && f.Kind != "value") || !f.valid() || !finite(f.Value) {
			return fmt.Errorf("bad fault %+v", f)
		}
	}
	for _, d := range m.DR {
		if !d.valid() || !finite(d.TargetKW) || d.TargetKW < 0 {
			return fmt.Errorf("bad dr %+v", d)
		}
	}
	return nil
}

func (w Window) valid() bool { return finite(w.FromS) && finite(w.ToS) && w.FromS <= w.ToS }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

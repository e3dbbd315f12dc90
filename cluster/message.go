package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// Messages travel as JSON. The rates are low (inventory deltas and telemetry batched a few
// times a second per instance, a command per decision), a JSON subject can be watched with
// the nats CLI when a site misbehaves, and the policy types already have text forms for their
// enums. Every decoder caps the input before parsing, refuses trailing bytes, and checks every
// value a peer could get wrong (a NaN kW, an unknown action, an empty miner id) so a bad
// message is refused whole instead of reaching the policy engine.

// Message is one message on the site's subjects.
type Message interface {
	// Validate reports the first value a peer got wrong.
	Validate() error
}

// MaxMessage caps every message's encoded size (NATS's default max_payload is 1 MiB).
const MaxMessage = 1 << 20

// MaxMinersPerMessage caps the miners in one inventory message or telemetry batch; a
// larger fleet is sent in several.
const MaxMinersPerMessage = 1000

// ErrBadMessage wraps every decoding or validation failure.
var ErrBadMessage = errors.New("cluster: bad message")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))
}

// decode parses b into m: size first, one JSON value, no trailing bytes, then m.Validate.
func decode(b []byte, m Message) error {
	if len(b) > MaxMessage {
		return badf("%d bytes, more than %d", len(b), MaxMessage)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(m); err != nil {
		return badf("%v", err)
	}
	if d.More() {
		return badf("trailing data")
	}
	if _, err := d.Token(); err == nil {
		return badf("trailing data")
	}
	return m.Validate()
}

// encode validates m and marshals it: what a peer would refuse is never sent.
func encode(m Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessage {
		return nil, badf("%d bytes, more than %d", len(b), MaxMessage)
	}
	return b, nil
}

// Encode marshals a message after validating it.
func Encode(m Message) ([]byte, error) { return encode(m) }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func kwOK(v float64) bool { return finite(v) && v >= 0 && v < 1e6 }

// Action is a policy.Action on the wire: "run", "pause", "throttle", "unknown".
type Action policy.Action

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(policy.Action(a).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; unknown names are refused.
func (a *Action) UnmarshalText(b []byte) error {
	for x := policy.ActionUnknown; x <= policy.ActionThrottle; x++ {
		if x.String() == string(b) {
			*a = Action(x)
			return nil
		}
	}
	return badf("unknown action %q", b)
}

// Command is policy.Command on the wire: what a miner was last told, by its owner.
type Command struct {
	Action   Action    `json:"action"`
	TargetKW float64   `json:"target_kw,omitempty"`
	Since    time.Time `json:"since,omitzero"`
}

func (c Command) policy() policy.Command {
	return policy.Command{Action: policy.Action(c.Action), TargetKW: c.TargetKW, Since: c.Since}
}

func idOK(s string) bool { return s != "" && len(s) <= 256 }

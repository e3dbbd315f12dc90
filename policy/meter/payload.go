package meter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Payload limits: a meter value is a few hundred bytes at most; anything far larger is a
// misconfigured topic or a hostile publisher.
const (
	MaxPayload    = 64 << 10
	maxPathSegs   = 16
	maxPathLength = 256
)

// errNoValue marks a payload that is well formed but carries no power value, such as a Shelly
// NotifyStatus about a temperature change. Sources skip it instead of reporting garbage.
var errNoValue = errors.New("meter: payload carries no value")

// DecodePayload extracts a meter value (in the device's unit) from an MQTT or HTTP payload.
// jsonPath is used only with FormatJSON. The time is the device's own timestamp when the payload
// has one (Shelly NotifyStatus "ts"), else zero. A numeric JSON string ("1234.5") counts as a
// number, since Home Assistant and many gateways publish states as strings.
func DecodePayload(f Format, jsonPath string, payload []byte) (float64, time.Time, error) {
	if len(payload) > MaxPayload {
		return 0, time.Time{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrPayload, len(payload), MaxPayload)
	}
	switch f {
	case FormatNumber:
		v, err := plainNumber(payload)
		return v, time.Time{}, err
	case FormatJSON:
		path, err := parsePath(jsonPath)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		raw, err := lookup(payload, path)
		if err != nil {
			return 0, time.Time{}, err
		}
		v, err := jsonNumber(raw)
		return v, time.Time{}, err
	case FormatShelly:
		return shelly(payload)
	case FormatTasmota:
		v, err := tasmota(payload)
		return v, time.Time{}, err
	case FormatAuto, "":
		if v, err := plainNumber(payload); err == nil || errors.Is(err, ErrNotFinite) {
			return v, time.Time{}, err
		}
		if v, at, err := shelly(payload); !errors.Is(err, ErrPayload) {
			return v, at, err
		}
		if v, err := tasmota(payload); !errors.Is(err, ErrPayload) {
			return v, time.Time{}, err
		}
		return 0, time.Time{}, fmt.Errorf("%w: neither a number nor a Shelly or Tasmota shape", ErrPayload)
	}
	return 0, time.Time{}, fmt.Errorf("%w: unknown format %q", ErrConfig, f)
}

// plainNumber parses a payload that is one number, possibly surrounded by whitespace or quoted.
func plainNumber(p []byte) (float64, error) {
	s := strings.TrimSpace(string(p))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%w: not a number", ErrPayload)
	}
	if !finite(v) {
		return 0, fmt.Errorf("%w: %s", ErrNotFinite, s)
	}
	return v, nil
}

// jsonNumber decodes a JSON number, or a JSON string holding one.
func jsonNumber(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrPayload, err)
		}
		return plainNumber([]byte(s))
	}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, fmt.Errorf("%w: value is null", ErrPayload)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%w: value is not a number", ErrPayload)
	}
	return v, nil
}

// parsePath splits a dot path such as "power.total" or "emeters.0.power". A leading "$." or
// "." (jq style) is accepted and ignored.
func parsePath(p string) ([]string, error) {
	p = strings.TrimPrefix(strings.TrimPrefix(p, "$"), ".")
	if p == "" || len(p) > maxPathLength {
		return nil, fmt.Errorf("json path must be 1..%d characters", maxPathLength)
	}
	segs := strings.Split(p, ".")
	if len(segs) > maxPathSegs {
		return nil, fmt.Errorf("json path has more than %d segments", maxPathSegs)
	}
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("json path %q has an empty segment", p)
		}
	}
	return segs, nil
}

// lookup follows path through objects (by key) and arrays (by decimal index).
func lookup(doc []byte, path []string) (json.RawMessage, error) {
	raw := json.RawMessage(doc)
	for i, seg := range path {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			return nil, fmt.Errorf("%w: empty document", ErrPayload)
		}
		switch raw[0] {
		case '{':
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrPayload, err)
			}
			next, ok := obj[seg]
			if !ok {
				return nil, fmt.Errorf("%w: no key %q at %s", ErrPayload, seg, strings.Join(path[:i], "."))
			}
			raw = next
		case '[':
			var arr []json.RawMessage
			if err := json.Unmarshal(raw, &arr); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrPayload, err)
			}
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= len(arr) {
				return nil, fmt.Errorf("%w: no index %q in a list of %d", ErrPayload, seg, len(arr))
			}
			raw = arr[idx]
		default:
			return nil, fmt.Errorf("%w: %q is not inside an object or list", ErrPayload, seg)
		}
	}
	return raw, nil
}

// shellyStatus is the power part of a Shelly Gen2 component status
// (Shelly API docs: EM.GetStatus total_act_power, EM1.GetStatus act_power,
// Switch/PM1.GetStatus apower). Pointers tell an absent field from a zero one.
type shellyStatus struct {
	TotalActPower *float64 `json:"total_act_power"`
	ActPower      *float64 `json:"act_power"`
	APower        *float64 `json:"apower"`
}

func (s shellyStatus) power() (float64, bool) {
	switch {
	case s.TotalActPower != nil:
		return *s.TotalActPower, true
	case s.ActPower != nil:
		return *s.ActPower, true
	case s.APower != nil:
		return *s.APower, true
	}
	return 0, false
}

// shellyNotify is a Shelly Gen2 RPC notification (topic <prefix>/events/rpc).
type shellyNotify struct {
	Method string                     `json:"method"`
	Params map[string]json.RawMessage `json:"params"`
}

// shelly decodes a component status (<prefix>/status/em:0) or a NotifyStatus/NotifyFullStatus
// notification, summing the power of every component it reports.
func shelly(p []byte) (float64, time.Time, error) {
	var n shellyNotify
	if err := json.Unmarshal(p, &n); err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if n.Method == "" {
		var st shellyStatus
		if err := json.Unmarshal(p, &st); err != nil {
			return 0, time.Time{}, fmt.Errorf("%w: %w", ErrPayload, err)
		}
		v, ok := st.power()
		if !ok {
			return 0, time.Time{}, fmt.Errorf("%w: no Shelly power field", ErrPayload)
		}
		return v, time.Time{}, checkFinite(v)
	}
	if n.Method != "NotifyStatus" && n.Method != "NotifyFullStatus" {
		return 0, time.Time{}, errNoValue
	}
	var (
		sum   float64
		found bool
		at    time.Time
	)
	for key, raw := range n.Params {
		if key == "ts" {
			var ts float64
			if json.Unmarshal(raw, &ts) == nil && ts > 0 && ts < 1e11 {
				sec, frac := math.Modf(ts)
				at = time.Unix(int64(sec), int64(frac*1e9)).UTC()
			}
			continue
		}
		if !strings.ContainsRune(key, ':') {
			continue
		}
		var st shellyStatus
		if json.Unmarshal(raw, &st) != nil {
			continue
		}
		if v, ok := st.power(); ok {
			sum, found = sum+v, true
		}
	}
	if !found {
		return 0, time.Time{}, errNoValue
	}
	return sum, at, checkFinite(sum)
}

// tasmotaSensor is Tasmota's tele/<topic>/SENSOR message; ENERGY.Power is a number, or a list
// for multi-channel devices.
type tasmotaSensor struct {
	Energy *struct {
		Power json.RawMessage `json:"Power"`
	} `json:"ENERGY"`
}

func tasmota(p []byte) (float64, error) {
	var s tasmotaSensor
	if err := json.Unmarshal(p, &s); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if s.Energy == nil || len(s.Energy.Power) == 0 {
		return 0, fmt.Errorf("%w: no ENERGY.Power", ErrPayload)
	}
	raw := bytes.TrimSpace(s.Energy.Power)
	if raw[0] != '[' {
		return jsonNumber(raw)
	}
	var list []float64
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return 0, fmt.Errorf("%w: ENERGY.Power is not a list of numbers", ErrPayload)
	}
	var sum float64
	for _, v := range list {
		sum += v
	}
	return sum, checkFinite(sum)
}

func checkFinite(v float64) error {
	if !finite(v) {
		return fmt.Errorf("%w: %v", ErrNotFinite, v)
	}
	return nil
}

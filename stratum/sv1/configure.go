package sv1

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// BIP310 extension names (sv1.md section 3.1).
const (
	ExtVersionRolling      = "version-rolling"
	ExtMinimumDifficulty   = "minimum-difficulty"
	ExtSubscribeExtranonce = "subscribe-extranonce"
	ExtInfo                = "info"
)

// Configure is the params of mining.configure (BIP310, sv1.md section 3.1):
//
//	[["version-rolling","minimum-difficulty"],
//	 {"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":16,
//	  "minimum-difficulty.value":2048}]
//
// Unknown extension parameters are ignored. min-bit-count is advisory: it is
// accepted as a number or a decimal string and dropped if unusable, never
// failing the handshake.
type Configure struct {
	Extensions []string

	// VersionRollingMask is the miner's mask; HasVersionRollingMask is false
	// when absent (BIP310 default ffffffff, see Mask).
	VersionRollingMask    uint32
	HasVersionRollingMask bool
	// VersionRollingMinBitCount is valid when HasMinBitCount.
	VersionRollingMinBitCount int
	HasMinBitCount            bool

	// MinimumDifficulty is the exact decimal text of minimum-difficulty.value,
	// "" when absent.
	MinimumDifficulty json.Number

	// info.* strings.
	InfoConnectionURL string
	InfoHWVersion     string
	InfoSWVersion     string
	InfoHWID          string
}

var _ Params = (*Configure)(nil)

// Method implements Params.
func (Configure) Method() string { return MethodConfigure }

// Has reports whether the miner requested extension ext.
func (c *Configure) Has(ext string) bool { return slices.Contains(c.Extensions, ext) }

// Mask returns the requested version-rolling mask, ffffffff if absent.
func (c *Configure) Mask() uint32 {
	if !c.HasVersionRollingMask {
		return 0xffffffff
	}
	return c.VersionRollingMask
}

// configureParams is the extension-params object on the wire.
type configureParams struct {
	Mask          json.RawMessage `json:"version-rolling.mask,omitempty"`
	MinBitCount   json.RawMessage `json:"version-rolling.min-bit-count,omitempty"`
	MinDifficulty json.RawMessage `json:"minimum-difficulty.value,omitempty"`
	ConnectionURL json.RawMessage `json:"info.connection-url,omitempty"`
	HWVersion     json.RawMessage `json:"info.hw-version,omitempty"`
	SWVersion     json.RawMessage `json:"info.sw-version,omitempty"`
	HWID          json.RawMessage `json:"info.hw-id,omitempty"`
}

// UnmarshalJSON implements Params.
func (c *Configure) UnmarshalJSON(raw []byte) error {
	var arr [paramsBuf]json.RawMessage
	p, err := splitArray(MethodConfigure, raw, arr[:0])
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return paramErr(MethodConfigure, -1, "missing extensions")
	}
	*c = Configure{}
	var exts [paramsBuf]json.RawMessage
	e, err := splitArray(MethodConfigure, p[0], exts[:0])
	if err != nil || kindOf(p[0]) != '[' {
		return paramErr(MethodConfigure, 0, "extensions must be an array")
	}
	c.Extensions = make([]string, 0, len(e))
	for _, x := range e {
		s, err := decodeString(MethodConfigure, 0, x)
		if err != nil {
			return err
		}
		c.Extensions = append(c.Extensions, s)
	}
	if len(p) < 2 || kindOf(p[1]) == 'n' {
		return nil
	}
	if kindOf(p[1]) != '{' {
		return paramErr(MethodConfigure, 1, "extension params must be an object")
	}
	var w configureParams
	if err := json.Unmarshal(p[1], &w); err != nil {
		return paramErr(MethodConfigure, 1, "malformed extension params")
	}
	if len(w.Mask) > 0 {
		if c.VersionRollingMask, err = decodeHex32(MethodConfigure, 1, w.Mask, false, false); err != nil {
			return err
		}
		c.HasVersionRollingMask = true
	}
	c.VersionRollingMinBitCount, c.HasMinBitCount = minBitCount(w.MinBitCount)
	if len(w.MinDifficulty) > 0 {
		if c.MinimumDifficulty, err = decodeNumber(MethodConfigure, 1, w.MinDifficulty, false); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst *string
	}{
		{w.ConnectionURL, &c.InfoConnectionURL},
		{w.HWVersion, &c.InfoHWVersion},
		{w.SWVersion, &c.InfoSWVersion},
		{w.HWID, &c.InfoHWID},
	} {
		if len(f.raw) > 0 {
			if *f.dst, err = decodeOptString(MethodConfigure, 1, f.raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// minBitCount reads the advisory min-bit-count: a number (Antminer) or a
// decimal string (cpuminer-style "16"). Anything else is dropped.
func minBitCount(raw json.RawMessage) (int, bool) {
	var text string
	switch kindOf(raw) {
	case '0':
		text = string(raw)
	case '"':
		s, err := decodeString(MethodConfigure, 1, raw)
		if err != nil {
			return 0, false
		}
		text = strings.TrimSpace(s)
	default:
		return 0, false
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 || n > 32 {
		return 0, false
	}
	return n, true
}

// MarshalJSON implements Params.
func (c Configure) MarshalJSON() ([]byte, error) {
	var w configureParams
	if c.HasVersionRollingMask {
		w.Mask = json.RawMessage(`"` + hex32(c.VersionRollingMask) + `"`)
	}
	if c.HasMinBitCount {
		w.MinBitCount = strconv.AppendInt(nil, int64(c.VersionRollingMinBitCount), 10)
	}
	if c.MinimumDifficulty != "" {
		w.MinDifficulty = json.RawMessage(c.MinimumDifficulty)
	}
	for _, f := range []struct {
		src string
		dst *json.RawMessage
	}{
		{c.InfoConnectionURL, &w.ConnectionURL},
		{c.InfoHWVersion, &w.HWVersion},
		{c.InfoSWVersion, &w.SWVersion},
		{c.InfoHWID, &w.HWID},
	} {
		if f.src != "" {
			*f.dst = appendString(nil, f.src)
		}
	}
	exts := c.Extensions
	if exts == nil {
		exts = []string{}
	}
	return json.Marshal([2]any{exts, w})
}

// ExtensionResult is one extension's answer in a mining.configure result:
// true, false, or an error text (BIP310).
type ExtensionResult struct {
	OK    bool
	Error string // non-empty when the server answered with a string
}

// MarshalJSON writes true/false or the error text.
func (x ExtensionResult) MarshalJSON() ([]byte, error) {
	if x.Error != "" {
		return json.Marshal(x.Error)
	}
	return json.Marshal(x.OK)
}

// UnmarshalJSON reads true/false or an error text.
func (x *ExtensionResult) UnmarshalJSON(raw []byte) error {
	switch kindOf(raw) {
	case 't':
		*x = ExtensionResult{OK: true}
	case 'f':
		*x = ExtensionResult{}
	case '"':
		s, err := decodeString(configureResult, -1, raw)
		if err != nil {
			return err
		}
		*x = ExtensionResult{Error: s}
		if s == "" {
			x.Error = "error"
		}
	default:
		return paramErr(configureResult, -1, "extension result must be a boolean or a string")
	}
	return nil
}

// ConfigureResult is the result object of mining.configure (BIP310):
// {"version-rolling":true,"version-rolling.mask":"1fffe000","minimum-difficulty":false}.
// A nil *ExtensionResult means the extension was not answered. BIP310
// requires an answer for every requested extension: use false when
// unsupported.
type ConfigureResult struct {
	VersionRolling        *ExtensionResult
	VersionRollingMask    uint32 // valid when HasVersionRollingMask
	HasVersionRollingMask bool
	MinimumDifficulty     *ExtensionResult
	SubscribeExtranonce   *ExtensionResult
	Info                  *ExtensionResult
}

const configureResult = "mining.configure result"

type wireConfigureResult struct {
	VersionRolling      *ExtensionResult `json:"version-rolling,omitempty"`
	Mask                *string          `json:"version-rolling.mask,omitempty"`
	MinimumDifficulty   *ExtensionResult `json:"minimum-difficulty,omitempty"`
	SubscribeExtranonce *ExtensionResult `json:"subscribe-extranonce,omitempty"`
	Info                *ExtensionResult `json:"info,omitempty"`
}

// MarshalJSON writes the result object.
func (r ConfigureResult) MarshalJSON() ([]byte, error) {
	w := wireConfigureResult{
		VersionRolling:      r.VersionRolling,
		MinimumDifficulty:   r.MinimumDifficulty,
		SubscribeExtranonce: r.SubscribeExtranonce,
		Info:                r.Info,
	}
	if r.HasVersionRollingMask {
		m := hex32(r.VersionRollingMask)
		w.Mask = &m
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes the result value (Message.Result).
func (r *ConfigureResult) UnmarshalJSON(raw []byte) error {
	if kindOf(raw) != '{' {
		return paramErr(configureResult, -1, "want an object")
	}
	var w struct {
		VersionRolling      *ExtensionResult `json:"version-rolling"`
		Mask                json.RawMessage  `json:"version-rolling.mask"`
		MinimumDifficulty   *ExtensionResult `json:"minimum-difficulty"`
		SubscribeExtranonce *ExtensionResult `json:"subscribe-extranonce"`
		Info                *ExtensionResult `json:"info"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return paramErr(configureResult, -1, "malformed result object")
	}
	*r = ConfigureResult{
		VersionRolling:      w.VersionRolling,
		MinimumDifficulty:   w.MinimumDifficulty,
		SubscribeExtranonce: w.SubscribeExtranonce,
		Info:                w.Info,
	}
	if len(w.Mask) > 0 && kindOf(w.Mask) != 'n' {
		m, err := decodeHex32(configureResult, -1, w.Mask, false, false)
		if err != nil {
			return err
		}
		r.VersionRollingMask, r.HasVersionRollingMask = m, true
	}
	return nil
}

package firmware

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// antminerDriver drives stock Bitmain firmware through its web CGI on port
// 80 with HTTP digest auth (default root/root), as pyasic and Block's
// proto-fleet do; Bitmain publishes no API documentation.
//
// What it can do:
//   - Sleep: set the work mode to 1 (sleep) with set_miner_conf.cgi. The
//     key differs by firmware ("miner-mode" on older, "bitmain-work-mode"
//     on newer) and some firmware answers OK without applying it, so the
//     mode is read back from get_miner_conf.cgi; if the first key is not
//     confirmed the other is tried.
//   - Wake: the same with mode 0 (normal).
//   - SetPowerTarget: unsupported (only LPM/HEM modes, no watt target).
//   - Status: the state, and hardware from stats.cgi (STATS[0]: elapsed,
//     fan, and per chain temp_pcb, temp_chip and rate_real, a chain with a
//     real rate counting as a working board); stock CGI reports no power,
//     so PowerW is not filled and the meter must confirm a shed. Firmware
//     without stats.cgi reports the state alone.
//   - Reboot: reboot.cgi.
//   - Locate: blink.cgi {"blink":"true"|"false"}, read back from
//     get_blink_status.cgi.
//
// set_miner_conf.cgi replaces the whole configuration, so the current one
// is read first and written back with only the mode changed. The CGI can
// take ~21 s to answer; the dispatcher's default per-command timeout allows
// for that.
type antminerDriver struct {
	cfg  *Config
	http *http.Client
}

func newAntminer(cfg *Config) Driver { return &antminerDriver{cfg: cfg, http: newHTTPClient(cfg)} }

func (d *antminerDriver) Firmware() string { return Antminer }

// AntminerConf is get_miner_conf.cgi's reply, kept field by field as raw
// JSON so writing it back preserves what hashgate does not interpret
// (pools, fan settings, ...).
type AntminerConf map[string]json.RawMessage

// WorkMode returns the mode under "bitmain-work-mode" or "miner-mode"
// (string or number); -1 if absent or unreadable.
func (c AntminerConf) WorkMode() int {
	for _, k := range []string{"bitmain-work-mode", "miner-mode"} {
		raw, ok := c[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				return v
			}
		}
		var n int
		if json.Unmarshal(raw, &n) == nil {
			return n
		}
	}
	return -1
}

// AntminerSetReply is set_miner_conf.cgi's answer, e.g. {"stats":"success",
// "code":"M000","msg":"OK!"}.
type AntminerSetReply struct {
	Stats string `json:"stats"`
	Code  string `json:"code"`
	Msg   string `json:"msg"`
}

// AntminerStats is stats.cgi's reply, the part hashgate reads.
type AntminerStats struct {
	Stats []AntminerStatsEntry `json:"STATS"`
}

// AntminerStatsEntry is STATS[0]: uptime in seconds, fan speeds and one
// entry per hashboard chain.
type AntminerStatsEntry struct {
	Elapsed *int64          `json:"elapsed,omitempty"`
	Fan     []float64       `json:"fan,omitempty"`
	Chain   []AntminerChain `json:"chain,omitempty"`
}

// AntminerChain is one hashboard: sensor readings (0 for an absent
// sensor) and its real hashrate in GH/s.
type AntminerChain struct {
	Index    int       `json:"index"`
	TempPCB  []float64 `json:"temp_pcb"`
	TempChip []float64 `json:"temp_chip"`
	RateReal float64   `json:"rate_real"`
}

// AntminerBlink is blink.cgi's request and get_blink_status.cgi's reply.
type AntminerBlink struct {
	Blink bool `json:"blink"`
}

// AntminerBlinkRequest is blink.cgi's body; the CGI takes the flag as a
// string.
type AntminerBlinkRequest struct {
	Blink string `json:"blink"`
}

// hardware copies STATS[0] into st.
func (a *AntminerStats) hardware(st *Status) {
	if len(a.Stats) == 0 {
		return
	}
	e := a.Stats[0]
	if e.Elapsed != nil {
		st.UptimeS, st.Known = *e.Elapsed, st.Known|FieldUptime
	}
	for _, f := range e.Fan {
		st.AddFan(f)
	}
	if e.Chain == nil {
		return
	}
	working := 0
	for _, c := range e.Chain {
		if c.RateReal > 0 {
			working++
		}
		for _, v := range c.TempPCB {
			if v > st.BoardTempC || !st.Has(FieldBoardTemp) {
				st.BoardTempC, st.Known = v, st.Known|FieldBoardTemp
			}
		}
		for _, v := range c.TempChip {
			if v > st.ChipTempC || !st.Has(FieldChipTemp) {
				st.ChipTempC, st.Known = v, st.Known|FieldChipTemp
			}
		}
	}
	st.SetBoards(working, len(e.Chain))
}

// Antminer work modes.
const (
	AntminerModeNormal = 0
	AntminerModeSleep  = 1
)

// do sends one digest-authenticated request; any answer but a 2xx is an
// error.
func (d *antminerDriver) do(ctx context.Context, t Target, method, cgi string, body any) (*httpReply, error) {
	user, pass := t.Username, t.Password
	if user == "" {
		user = "root"
	}
	if pass == "" {
		pass = "root"
	}
	uri := "/cgi-bin/" + cgi + ".cgi"
	url := "http://" + t.hostPort(DefaultPort(Antminer)) + uri
	r, err := httpDo(ctx, d.cfg, d.http, method, url, nil, body)
	switch {
	case err != nil:
		return nil, err
	case r.success():
		return r, nil // firmware without digest auth
	case r.Code != http.StatusUnauthorized:
		// A broken or missing CGI, or a redirect to a login page: nothing
		// was done, whatever the body says.
		return nil, httpRefusal(Antminer, cgi, r)
	}
	ch, err := parseDigestChallenge(r.Header.Get("WWW-Authenticate"))
	if err != nil {
		return nil, protoErr(Antminer, cgi, err)
	}
	r, err = httpDo(ctx, d.cfg, d.http, method, url, http.Header{"Authorization": {ch.authorization(user, pass, method, uri)}}, body)
	if err != nil {
		return nil, err
	}
	if !r.success() {
		return nil, httpRefusal(Antminer, cgi, r)
	}
	return r, nil
}

func (d *antminerDriver) conf(ctx context.Context, t Target) (AntminerConf, error) {
	r, err := d.do(ctx, t, http.MethodGet, "get_miner_conf", nil)
	if err != nil {
		return nil, err
	}
	var c AntminerConf
	if err := decodeJSON(Antminer, "get_miner_conf", r.Body, &c); err != nil {
		return nil, err
	}
	return c, nil
}

func (d *antminerDriver) Status(ctx context.Context, t Target) (Status, error) {
	c, err := d.conf(ctx, t)
	if err != nil {
		return Status{}, err
	}
	var st Status
	switch m := c.WorkMode(); {
	case m == AntminerModeSleep:
		st.State = StateSleeping
	case m >= 0:
		st.State = StateRunning
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	// The state is known; hardware is a bonus firmware may not have.
	if r, err := d.do(ctx, t, http.MethodGet, "stats", nil); err == nil {
		var as AntminerStats
		if decodeJSON(Antminer, "stats", r.Body, &as) == nil {
			as.hardware(&st)
		}
	}
	return st, nil
}

func (d *antminerDriver) Reboot(ctx context.Context, t Target) error {
	_, err := d.do(ctx, t, http.MethodGet, "reboot", nil)
	return err
}

func (d *antminerDriver) Locate(ctx context.Context, t Target, on bool) error {
	r, err := d.do(ctx, t, http.MethodPost, "blink", AntminerBlinkRequest{Blink: strconv.FormatBool(on)})
	if err != nil {
		return err
	}
	if r, err = d.do(ctx, t, http.MethodGet, "get_blink_status", nil); err != nil {
		return err
	}
	var b AntminerBlink
	if err := decodeJSON(Antminer, "get_blink_status", r.Body, &b); err != nil {
		return err
	}
	if b.Blink != on {
		return fmt.Errorf("%w: antminer blink is %t", ErrNotConfirmed, b.Blink)
	}
	return nil
}

// setMode writes mode under each known key in turn until one is confirmed.
func (d *antminerDriver) setMode(ctx context.Context, t Target, mode int) error {
	want := isRunning
	if mode == AntminerModeSleep {
		want = isSleeping
	}
	var last error
	for _, key := range []string{"miner-mode", "bitmain-work-mode"} {
		c, err := d.conf(ctx, t)
		if err != nil {
			return err
		}
		c[key] = json.RawMessage(strconv.Quote(strconv.Itoa(mode)))
		r, err := d.do(ctx, t, http.MethodPost, "set_miner_conf", c)
		if err != nil {
			return err
		}
		var rep AntminerSetReply
		if err := decodeJSON(Antminer, "set_miner_conf", r.Body, &rep); err != nil {
			return err
		}
		if rep.Stats != "" && rep.Stats != "success" {
			return &CommandError{Firmware: Antminer, Command: "set_miner_conf", Msg: rep.Code + " " + rep.Msg}
		}
		last = confirm(ctx, d.cfg, fmt.Sprintf("antminer %s=%d", key, mode), func(ctx context.Context) (Status, error) {
			return d.Status(ctx, t)
		}, want)
		if last == nil {
			return nil
		}
	}
	return last
}

func (d *antminerDriver) Sleep(ctx context.Context, t Target) error {
	return d.setMode(ctx, t, AntminerModeSleep)
}

func (d *antminerDriver) Wake(ctx context.Context, t Target) error {
	return d.setMode(ctx, t, AntminerModeNormal)
}

func (d *antminerDriver) SetPowerTarget(context.Context, Target, int) error {
	return fmt.Errorf("%w: stock Antminer firmware has no watt target", ErrUnsupported)
}

func (d *antminerDriver) Capabilities(context.Context, Target) (Capabilities, error) {
	return Capabilities{Sleep: true}, nil
}

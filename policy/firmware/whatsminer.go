package firmware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// whatsminerDriver speaks Whatsminer API v2 (TCP 4028).
//
// What it can do:
//   - Sleep: "power_off" with respbefore=true: stops mining and turns off
//     the power board's output (control board stays on); read back as
//     btmineroff in the status command.
//   - Wake: "power_on".
//   - SetPowerTarget: unsupported. "adjust_power_limit" reboots the miner
//     and "set_power_pct" is a temporary percentage of current power with
//     no read-back of the setting, so neither gives a confirmable target.
//   - Reboot: "reboot".
//   - Locate: "set_led" flashing red (200 ms period, 100 ms on) for on,
//     param "auto" for off; read back as get_miner_info's ledstat.
//   - Hardware: summary's Temperature (board), Chip Temp Max, Fan Speed
//     In/Out and Elapsed. Hashboards are not read (summary lacks them).
//
// Auth: write commands need the API enabled and the admin password changed
// in WhatsMinerTool. A token from get_token lives 30 min; it is cached per
// miner for Config.WhatsminerTokenTTL and fetched again once when the miner
// answers "check token error" (135). Code 45 ("can't access write cmd") and
// a second 135 are ErrAuth. The password defaults to "admin".
type whatsminerDriver struct {
	cfg *Config

	mu     sync.Mutex
	tokens map[string]wmToken // by host:port
}

type wmToken struct {
	cred WhatsminerCredentials
	at   time.Time
}

func newWhatsminer(cfg *Config) Driver {
	return &whatsminerDriver{cfg: cfg, tokens: make(map[string]wmToken)}
}

func (d *whatsminerDriver) Firmware() string { return Whatsminer }

func (d *whatsminerDriver) plain(ctx context.Context, addr, cmd string) ([]byte, error) {
	req, err := json.Marshal(WhatsminerRequest{Cmd: cmd})
	if err != nil {
		return nil, err
	}
	return tcpExchange(ctx, d.cfg, addr, req)
}

func (d *whatsminerDriver) token(ctx context.Context, t Target, addr string, renew bool) (WhatsminerCredentials, error) {
	d.mu.Lock()
	tok, ok := d.tokens[addr]
	d.mu.Unlock()
	if ok && !renew && d.cfg.Clock.Now().Sub(tok.at) < d.cfg.WhatsminerTokenTTL {
		return tok.cred, nil
	}
	raw, err := d.plain(ctx, addr, "get_token")
	if err != nil {
		return WhatsminerCredentials{}, err
	}
	r, err := DecodeWhatsminerReply(raw)
	if err != nil {
		return WhatsminerCredentials{}, protoErr(Whatsminer, "get_token", err)
	}
	if !r.OK() {
		return WhatsminerCredentials{}, d.refusal("get_token", r)
	}
	var wt WhatsminerToken
	if err := json.Unmarshal(r.Msg, &wt); err != nil || wt.Salt == "" || wt.NewSalt == "" {
		return WhatsminerCredentials{}, protoErr(Whatsminer, "get_token", fmt.Errorf("bad token message: %w", err))
	}
	pw := t.Password
	if pw == "" {
		pw = "admin"
	}
	cred := WhatsminerDerive(pw, wt)
	d.mu.Lock()
	d.tokens[addr] = wmToken{cred: cred, at: d.cfg.Clock.Now()}
	d.mu.Unlock()
	return cred, nil
}

func (d *whatsminerDriver) refusal(cmd string, r *WhatsminerReply) error {
	ce := &CommandError{Firmware: Whatsminer, Command: cmd, Code: r.Code, Msg: r.Text()}
	if r.Code == WhatsminerCodeNoWriteAPI || r.Code == WhatsminerCodeBadToken {
		return fmt.Errorf("%w: %w", ErrAuth, ce)
	}
	return ce
}

// write sends an encrypted command, renewing the token once on 135.
func (d *whatsminerDriver) write(ctx context.Context, t Target, req WhatsminerRequest) error {
	addr := t.hostPort(DefaultPort(Whatsminer))
	for renew := false; ; renew = true {
		cred, err := d.token(ctx, t, addr, renew)
		if err != nil {
			return err
		}
		req.Token = cred.Sign
		plain, err := json.Marshal(req)
		if err != nil {
			return err
		}
		env, err := json.Marshal(WhatsminerEnvelope{Enc: 1, Data: WhatsminerEncrypt(cred.Key, plain)})
		if err != nil {
			return err
		}
		raw, err := tcpExchange(ctx, d.cfg, addr, env)
		if err != nil {
			return err
		}
		r, err := decodeWhatsminerWriteReply(cred.Key, raw)
		if err != nil {
			return protoErr(Whatsminer, req.Cmd, err)
		}
		if r.OK() {
			return nil
		}
		if r.Code == WhatsminerCodeBadToken && !renew {
			continue
		}
		return d.refusal(req.Cmd, r)
	}
}

// decodeWhatsminerWriteReply accepts an encrypted reply or a plain error.
func decodeWhatsminerWriteReply(key [32]byte, raw []byte) (*WhatsminerReply, error) {
	var enc WhatsminerEncReply
	if err := json.Unmarshal(raw, &enc); err == nil && enc.Enc != "" {
		plain, err := WhatsminerDecrypt(key, enc.Enc)
		if err != nil {
			return nil, err
		}
		return DecodeWhatsminerReply(plain)
	}
	return DecodeWhatsminerReply(raw)
}

func (d *whatsminerDriver) Status(ctx context.Context, t Target) (Status, error) {
	addr := t.hostPort(DefaultPort(Whatsminer))
	raw, err := d.plain(ctx, addr, "status")
	if err != nil {
		return Status{}, err
	}
	r, err := DecodeWhatsminerReply(raw)
	if err != nil {
		return Status{}, protoErr(Whatsminer, "status", err)
	}
	if !r.OK() {
		return Status{}, d.refusal("status", r)
	}
	var sm WhatsminerStatusMsg
	if err := json.Unmarshal(r.Msg, &sm); err != nil {
		return Status{}, protoErr(Whatsminer, "status", err)
	}
	var st Status
	switch sm.BtminerOff {
	case "false":
		st.State = StateRunning
	case "true":
		st.State = StateSleeping
	}
	raw, err = d.plain(ctx, addr, "summary")
	if err != nil {
		return Status{}, err
	}
	var sr WhatsminerSummaryReply
	if err := json.Unmarshal(raw, &sr); err != nil {
		return Status{}, protoErr(Whatsminer, "summary", err)
	}
	if len(sr.Status) == 0 || len(sr.Summary) != 1 {
		return Status{}, protoErr(Whatsminer, "summary", errors.New("no SUMMARY"))
	}
	if sr.Status[0].OK() {
		st.PowerW, st.HashrateTHs = sr.Summary[0].Power, sr.Summary[0].MHS1m/1e6
		st.Known |= FieldPower | FieldHashrate
		sr.Summary[0].hardware(&st)
	}
	return st, nil
}

func (d *whatsminerDriver) Reboot(ctx context.Context, t Target) error {
	return d.write(ctx, t, WhatsminerRequest{Cmd: "reboot"})
}

func (d *whatsminerDriver) Locate(ctx context.Context, t Target, on bool) error {
	req := WhatsminerRequest{Cmd: "set_led", Param: "auto"}
	if on {
		req = WhatsminerRequest{Cmd: "set_led", Color: "red", Period: 200, Duration: 100}
	}
	if err := d.write(ctx, t, req); err != nil {
		return err
	}
	raw, err := d.plain(ctx, t.hostPort(DefaultPort(Whatsminer)), "get_miner_info")
	if err != nil {
		return err
	}
	r, err := DecodeWhatsminerReply(raw)
	if err != nil {
		return protoErr(Whatsminer, "get_miner_info", err)
	}
	if !r.OK() {
		return d.refusal("get_miner_info", r)
	}
	var mi WhatsminerMinerInfo
	if err := json.Unmarshal(r.Msg, &mi); err != nil {
		return protoErr(Whatsminer, "get_miner_info", err)
	}
	if (mi.LEDStat != "auto") != on {
		return fmt.Errorf("%w: whatsminer ledstat %q", ErrNotConfirmed, mi.LEDStat)
	}
	return nil
}

func (d *whatsminerDriver) readStatus(t Target) func(context.Context) (Status, error) {
	return func(ctx context.Context) (Status, error) { return d.Status(ctx, t) }
}

func (d *whatsminerDriver) Sleep(ctx context.Context, t Target) error {
	if err := d.write(ctx, t, WhatsminerRequest{Cmd: "power_off", Respbefore: "true"}); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "whatsminer power_off", d.readStatus(t), isSleeping)
}

func (d *whatsminerDriver) Wake(ctx context.Context, t Target) error {
	if err := d.write(ctx, t, WhatsminerRequest{Cmd: "power_on"}); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "whatsminer power_on", d.readStatus(t), isRunning)
}

func (d *whatsminerDriver) SetPowerTarget(context.Context, Target, int) error {
	return fmt.Errorf("%w: Whatsminer v2 offers no confirmable power target", ErrUnsupported)
}

func (d *whatsminerDriver) Capabilities(context.Context, Target) (Capabilities, error) {
	return Capabilities{Sleep: true}, nil
}

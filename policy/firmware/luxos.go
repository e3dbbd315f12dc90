package firmware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// luxosDriver speaks the LuxOS API (cgminer-style JSON, TCP 4028).
//
// What it can do, per the LuxOS docs:
//   - Sleep: "curtail <sid>,sleep" turns off the hashboards and the power
//     supply (~25 W within seconds); read back as CONFIG.CurtailMode.
//   - Wake: "curtail <sid>,wakeup"; the ramp follows the miner's wakeup
//     steps.
//   - SetPowerTarget: through "profileset" to the highest tuned profile
//     whose nominal Watts do not exceed the target; read back as
//     CONFIG.Profile. LuxOS also has "powertargetset" on selected models,
//     but we found no documented read-back for it, so it is not used.
//
// Sessions: write commands need a SessionID from "logon". LuxOS allows one
// session at a time and drops it after 60 s idle; it is not a security
// feature (no password). Sessions are cached per miner for
// Config.LuxOSSessionIdle, re-established once when a command is refused,
// and released with "logoff" by CloseSessions. When another client holds
// the session (logon answers code 402), its id is read with "session" and
// reused, as other LuxOS tools do; if that fails, ErrSessionBusy.
type luxosDriver struct {
	cfg *Config

	mu     sync.Mutex
	miners map[string]*luxMiner // by host:port
}

// luxMiner serialises commands to one miner and holds its session.
type luxMiner struct {
	mu   sync.Mutex
	sid  string
	used time.Time
}

// luxCodeSessionActive is LuxOS's "Another session is active" status code.
const luxCodeSessionActive = 402

func newLuxOS(cfg *Config) Driver {
	return &luxosDriver{cfg: cfg, miners: make(map[string]*luxMiner)}
}

func (d *luxosDriver) Firmware() string { return LuxOS }

func (d *luxosDriver) miner(addr string) *luxMiner {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.miners[addr]
	if m == nil {
		m = &luxMiner{}
		d.miners[addr] = m
	}
	return m
}

// call sends one command and decodes the reply.
func (d *luxosDriver) call(ctx context.Context, addr, cmd, param string) (*LuxReply, error) {
	req, err := json.Marshal(CgminerRequest{Command: cmd, Parameter: param})
	if err != nil {
		return nil, err
	}
	raw, err := tcpExchange(ctx, d.cfg, addr, req)
	if err != nil {
		return nil, err
	}
	r, err := DecodeLuxReply(raw)
	if err != nil {
		return nil, protoErr(LuxOS, cmd, err)
	}
	return r, nil
}

func luxRefusal(cmd string, s CgminerStatus) error {
	return &CommandError{Firmware: LuxOS, Command: cmd, Code: s.Code, Msg: s.Msg}
}

// logon obtains a session id, reusing an active one when LuxOS reports
// that another session exists.
func (d *luxosDriver) logon(ctx context.Context, addr string) (string, error) {
	r, err := d.call(ctx, addr, "logon", "")
	if err != nil {
		return "", err
	}
	if r.Status[0].OK() && len(r.Session) == 1 && r.Session[0].SessionID != "" {
		return r.Session[0].SessionID, nil
	}
	if r.Status[0].Code != luxCodeSessionActive {
		return "", fmt.Errorf("%w: %w", ErrAuth, luxRefusal("logon", r.Status[0]))
	}
	s, err := d.call(ctx, addr, "session", "")
	if err != nil {
		return "", err
	}
	if s.Status[0].OK() && len(s.Session) == 1 && s.Session[0].SessionID != "" {
		return s.Session[0].SessionID, nil
	}
	return "", ErrSessionBusy
}

// privileged runs a session command, logging on as needed and once more if
// the miner refuses the cached session (expired or taken over).
func (d *luxosDriver) privileged(ctx context.Context, addr, cmd string, args ...string) (*LuxReply, error) {
	m := d.miner(addr)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := d.cfg.Clock.Now()
	fresh := false
	if m.sid == "" || now.Sub(m.used) >= d.cfg.LuxOSSessionIdle {
		sid, err := d.logon(ctx, addr)
		if err != nil {
			m.sid = ""
			return nil, err
		}
		m.sid, fresh = sid, true
	}
	for {
		param := strings.Join(append([]string{m.sid}, args...), ",")
		r, err := d.call(ctx, addr, cmd, param)
		if err != nil {
			return nil, err
		}
		if r.Status[0].OK() {
			m.used = d.cfg.Clock.Now()
			return r, nil
		}
		if fresh {
			m.sid = ""
			return nil, luxRefusal(cmd, r.Status[0])
		}
		// The cached session may have expired: log on again, retry once.
		d.cfg.Logger.Info().Str("miner", addr).Str("cmd", cmd).Int("code", r.Status[0].Code).Msg("luxos command refused, renewing session")
		sid, err := d.logon(ctx, addr)
		if err != nil {
			m.sid = ""
			return nil, err
		}
		m.sid, fresh = sid, true
	}
}

// CloseSessions logs off every cached LuxOS session so other tools can log
// on. Errors are joined; sessions are forgotten either way.
func (d *luxosDriver) CloseSessions(ctx context.Context) error {
	d.mu.Lock()
	addrs := make([]string, 0, len(d.miners))
	for a := range d.miners {
		addrs = append(addrs, a)
	}
	d.mu.Unlock()
	var errs []error
	for _, a := range addrs {
		m := d.miner(a)
		m.mu.Lock()
		if m.sid != "" {
			if r, err := d.call(ctx, a, "logoff", m.sid); err != nil {
				errs = append(errs, err)
			} else if !r.Status[0].OK() {
				errs = append(errs, luxRefusal("logoff", r.Status[0]))
			}
			m.sid = ""
		}
		m.mu.Unlock()
	}
	return errors.Join(errs...)
}

// luxState is one multi-command read of the miner.
type luxState struct {
	status   Status
	profile  string
	profiles []LuxProfile
}

func (d *luxosDriver) read(ctx context.Context, t Target) (luxState, error) {
	addr := t.hostPort(DefaultPort(LuxOS))
	req, err := json.Marshal(CgminerRequest{Command: "config+power+summary+profiles"})
	if err != nil {
		return luxState{}, err
	}
	raw, err := tcpExchange(ctx, d.cfg, addr, req)
	if err != nil {
		return luxState{}, err
	}
	r, err := DecodeLuxMultiReply(raw)
	if err != nil {
		return luxState{}, protoErr(LuxOS, "status", err)
	}
	if len(r.Config) != 1 || len(r.Config[0].Config) != 1 {
		return luxState{}, protoErr(LuxOS, "status", errors.New("no CONFIG"))
	}
	var ls luxState
	cfg := r.Config[0].Config[0]
	ls.profile = cfg.Profile
	switch cfg.CurtailMode {
	case "None", "":
		ls.status.State = StateRunning
	default:
		ls.status.State = StateSleeping
	}
	if len(r.Power) == 1 && len(r.Power[0].Power) == 1 && r.Power[0].Status[0].OK() {
		ls.status.PowerW = r.Power[0].Power[0].Watts
		ls.status.Known |= FieldPower
	}
	if len(r.Summary) == 1 && len(r.Summary[0].Summary) == 1 && r.Summary[0].Status[0].OK() {
		ls.status.HashrateTHs = r.Summary[0].Summary[0].GHS5s / 1000
		ls.status.Known |= FieldHashrate
	}
	if len(r.Profiles) == 1 && r.Profiles[0].Status[0].OK() {
		ls.profiles = r.Profiles[0].Profiles
		for _, p := range ls.profiles {
			if p.Name == cfg.Profile {
				ls.status.PowerTargetW = p.Watts
				ls.status.Known |= FieldPowerTarget
			}
		}
	}
	return ls, nil
}

func (d *luxosDriver) Status(ctx context.Context, t Target) (Status, error) {
	ls, err := d.read(ctx, t)
	return ls.status, err
}

func (d *luxosDriver) readStatus(t Target) func(context.Context) (Status, error) {
	return func(ctx context.Context) (Status, error) { return d.Status(ctx, t) }
}

func (d *luxosDriver) Sleep(ctx context.Context, t Target) error {
	if _, err := d.privileged(ctx, t.hostPort(DefaultPort(LuxOS)), "curtail", "sleep"); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "luxos sleep", d.readStatus(t), isSleeping)
}

func (d *luxosDriver) Wake(ctx context.Context, t Target) error {
	if _, err := d.privileged(ctx, t.hostPort(DefaultPort(LuxOS)), "curtail", "wakeup"); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "luxos wakeup", d.readStatus(t), isRunning)
}

// pickProfile returns the highest profile whose Watts do not exceed watts.
func pickProfile(ps []LuxProfile, watts int) (LuxProfile, bool) {
	var best LuxProfile
	found := false
	for _, p := range ps {
		if p.Watts <= float64(watts) && (!found || p.Watts > best.Watts) {
			best, found = p, true
		}
	}
	return best, found
}

func (d *luxosDriver) SetPowerTarget(ctx context.Context, t Target, watts int) error {
	ls, err := d.read(ctx, t)
	if err != nil {
		return err
	}
	p, ok := pickProfile(ls.profiles, watts)
	if !ok {
		return fmt.Errorf("%w: %d W below every LuxOS profile", ErrOutOfRange, watts)
	}
	if _, err := d.privileged(ctx, t.hostPort(DefaultPort(LuxOS)), "profileset", p.Name); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "luxos profileset "+p.Name, func(ctx context.Context) (Status, error) {
		ls, err := d.read(ctx, t)
		if err == nil && ls.profile != p.Name {
			ls.status.Known &^= FieldPowerTarget
		}
		return ls.status, err
	}, func(s Status) bool { return s.Has(FieldPowerTarget) && s.PowerTargetW == p.Watts })
}

func (d *luxosDriver) Capabilities(ctx context.Context, t Target) (Capabilities, error) {
	ls, err := d.read(ctx, t)
	if err != nil {
		return Capabilities{}, err
	}
	c := Capabilities{Sleep: true}
	for _, p := range ls.profiles {
		c.Steps = append(c.Steps, int(p.Watts))
	}
	sort.Ints(c.Steps)
	if len(c.Steps) > 0 {
		c.PowerTarget = true
		c.MinW, c.MaxW = c.Steps[0], c.Steps[len(c.Steps)-1]
	}
	return c, nil
}

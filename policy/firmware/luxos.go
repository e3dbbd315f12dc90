package firmware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
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
//   - Reboot: "rebootdevice <sid>".
//   - Locate: "ledset <sid>,red,blink" or "ledset <sid>,red,off"; read
//     back as CONFIG.RedLed.
//   - Hardware: "temps+fans+summary+devs" (hottest TEMPS Board and Chip,
//     FANS RPM, SUMMARY Elapsed, DEVS as hashboards), read at most every
//     hardwareTTL per miner and merged into Status.
//
// Sessions: write commands need a SessionID from "logon". LuxOS allows one
// session at a time and drops it after 60 s idle; it is not a security
// feature (no password). Sessions are cached per miner for
// Config.LuxOSSessionIdle, re-established once when the miner refuses a
// command because it no longer holds the session (never for a reboot,
// whose session is checked before it is sent), and released with "logoff" by CloseSessions. When another client holds
// the session (logon answers code 402), its id is read with "session" and
// reused, as other LuxOS tools do; if that fails, ErrSessionBusy.
type luxosDriver struct {
	cfg *Config
	// answerLog carries the lines whose text the miners choose (warnings, lost sessions):
	// sampled, so a fleet answering every command that way cannot flood the log.
	answerLog zerolog.Logger

	mu     sync.Mutex
	miners map[string]*luxMiner // by host:port

	hw hwCache
}

// luxMiner serialises commands to one miner and holds its session and
// its profile table.
type luxMiner struct {
	mu   sync.Mutex
	sid  string
	used time.Time

	profiles atomic.Pointer[luxProfileTable]
}

// luxCodeSessionActive is LuxOS's "Another session is active" status code.
const luxCodeSessionActive = 402

func newLuxOS(cfg *Config) Driver {
	return &luxosDriver{cfg: cfg, miners: make(map[string]*luxMiner),
		answerLog: cfg.Logger.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Minute})}
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

// luxRepeatable reports whether a session command may be sent a second
// time: each of these sets a state (curtail mode, LED, profile), so sending
// it again changes nothing. rebootdevice is not: a reboot is sent once.
func luxRepeatable(cmd string) bool {
	switch cmd {
	case "curtail", "ledset", "profileset":
		return true
	}
	return false
}

// luxAnswered reports whether the miner took a command: success,
// information or a warning ("W" is an answer, not a refusal).
func luxAnswered(s CgminerStatus) bool { return s.OK() || s.Status == "W" }

// privileged runs a session command, logging on as needed. A refusal on a
// cached session is retried once, after a fresh logon, only when the miner
// no longer holds that session (it expired or was taken over) and only for
// a command that is safe to repeat; a command that is not (a reboot) gets
// its session checked before it is sent instead, and is sent once.
func (d *luxosDriver) privileged(ctx context.Context, addr, cmd string, args ...string) (*LuxReply, error) {
	m := d.miner(addr)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := d.cfg.Clock.Now()
	fresh := false
	if m.sid == "" || now.Sub(m.used) >= d.cfg.LuxOSSessionIdle || !luxRepeatable(cmd) {
		// logon hands back the session the miner holds when it is still
		// ours (code 402), so a live cached session is kept.
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
		st := r.Status[0]
		if luxAnswered(st) {
			m.used = d.cfg.Clock.Now()
			if !st.OK() {
				d.answerLog.Info().Str("miner", addr).Str("cmd", cmd).Int("code", st.Code).Str("msg", st.Msg).Msg("luxos command answered with a warning")
			}
			return r, nil
		}
		if fresh {
			m.sid = ""
			return nil, luxRefusal(cmd, st)
		}
		lost, err := d.sessionLost(ctx, addr, m.sid)
		if err != nil {
			return nil, err
		}
		if !lost {
			// The session is fine: the refusal is about the command.
			return nil, luxRefusal(cmd, st)
		}
		d.answerLog.Info().Str("miner", addr).Str("cmd", cmd).Int("code", st.Code).Msg("luxos session lost, logging on again")
		sid, err := d.logon(ctx, addr)
		if err != nil {
			m.sid = ""
			return nil, err
		}
		m.sid, fresh = sid, true
	}
}

// sessionLost asks the miner which session it holds ("session" needs none)
// and reports whether it is no longer sid.
func (d *luxosDriver) sessionLost(ctx context.Context, addr, sid string) (bool, error) {
	r, err := d.call(ctx, addr, "session", "")
	if err != nil {
		return false, err
	}
	held := ""
	if r.Status[0].OK() && len(r.Session) == 1 {
		held = r.Session[0].SessionID
	}
	return held != sid, nil
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

// Status reads: telemetry polls every miner every few seconds, so its read
// asks for what Status reports and nothing more. "config" gives the power
// state and the current profile's name, "power" the firmware's draw. The
// profile's nominal Watts (PowerTargetW) come from the miner's "profiles"
// table, which changes only when someone edits the profiles: it is read
// with the first status, again after luxProfilesTTL, whenever CONFIG names
// a profile the table lacks, and by every write (Capabilities,
// SetPowerTarget), and kept per miner in between. SUMMARY (hashrate) is
// not asked for: nothing in hashgate uses a firmware hashrate, so no poll
// pays for it. The requests are built once, as json.Marshal writes them.
var (
	luxReqStatus         = mustMarshal(CgminerRequest{Command: "config+power"})
	luxReqStatusProfiles = mustMarshal(CgminerRequest{Command: "config+power+profiles"})
)

// luxProfilesTTL is how long a miner's profile table is trusted.
const luxProfilesTTL = 10 * time.Minute

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// luxProfileTable is a miner's profile table as last read.
type luxProfileTable struct {
	at       time.Time
	profiles []luxProfileWatts
	// lacks is the current profile when the table was read, if the table
	// does not list it; it is not read again for that profile.
	lacks string
}

// watts returns the nominal Watts of the named profile.
func (pt *luxProfileTable) watts(name string) (w float64, ok bool) {
	for _, p := range pt.profiles {
		if p.Name == name {
			w, ok = p.Watts, true
		}
	}
	return w, ok
}

// luxState is one multi-command read of the miner; profiles is set when
// the read asked for them and the miner gave them.
type luxState struct {
	status   Status
	profile  string
	profiles *luxProfileTable
}

// read asks for config and power, and for the profile table when
// withProfiles, which it then keeps in m and uses for PowerTargetW.
func (d *luxosDriver) read(ctx context.Context, addr string, m *luxMiner, withProfiles bool) (luxState, error) {
	req := luxReqStatus
	if withProfiles {
		req = luxReqStatusProfiles
	}
	bp := getReplyBuf()
	raw, err := tcpExchangeAppend(ctx, d.cfg, addr, req, *bp)
	if err != nil {
		putReplyBuf(bp, nil)
		return luxState{}, err
	}
	var r luxStatusReply
	err = decodeLuxStatus(raw, &r)
	putReplyBuf(bp, raw)
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
	if withProfiles && len(r.Profiles) == 1 && r.Profiles[0].Status[0].OK() {
		pt := &luxProfileTable{at: d.cfg.Clock.Now(), profiles: r.Profiles[0].Profiles}
		if !ls.target(pt) {
			pt.lacks = cfg.Profile
		}
		ls.profiles = pt
		m.profiles.Store(pt)
	}
	return ls, nil
}

// target reports the current profile's Watts from pt, if pt lists it.
func (ls *luxState) target(pt *luxProfileTable) bool {
	w, ok := pt.watts(ls.profile)
	if ok {
		ls.status.PowerTargetW = w
		ls.status.Known |= FieldPowerTarget
	}
	return ok
}

// profileList is the profile table the read got, if any.
func (ls *luxState) profileList() []luxProfileWatts {
	if ls.profiles == nil {
		return nil
	}
	return ls.profiles.profiles
}

// readFull reads config, power and the profile table.
func (d *luxosDriver) readFull(ctx context.Context, t Target) (luxState, error) {
	addr := t.hostPort(DefaultPort(LuxOS))
	return d.read(ctx, addr, d.miner(addr), true)
}

// Status reads config and power, and the profile table only when the one
// kept for the miner is missing, older than luxProfilesTTL or lacks the
// profile CONFIG names (the profiles were edited).
func (d *luxosDriver) Status(ctx context.Context, t Target) (Status, error) {
	addr := t.hostPort(DefaultPort(LuxOS))
	m := d.miner(addr)
	pt := m.profiles.Load()
	stale := pt == nil || d.cfg.Clock.Now().Sub(pt.at) >= luxProfilesTTL
	ls, err := d.read(ctx, addr, m, stale)
	if err == nil && !stale && !ls.target(pt) && ls.profile != pt.lacks {
		ls, err = d.read(ctx, addr, m, true)
	}
	if err == nil {
		d.hardware(ctx, addr, &ls.status)
	}
	return ls.status, err
}

// luxReqHardware asks for everything the hardware reading uses.
var luxReqHardware = mustMarshal(CgminerRequest{Command: "temps+fans+summary+devs"})

// hardware merges the miner's hardware reading into st, reading it again
// when the kept one is older than hardwareTTL. A failed read leaves the
// fields unknown: the power state already read is what the caller needs.
func (d *luxosDriver) hardware(ctx context.Context, addr string, st *Status) {
	now := d.cfg.Clock.Now()
	r, ok := d.hw.get(addr, now)
	if !ok {
		r = hwReading{at: now}
		if raw, err := tcpExchange(ctx, d.cfg, addr, luxReqHardware); err == nil {
			if mr, err := DecodeLuxMultiReply(raw); err == nil {
				r.st = mr.Hardware()
			}
		}
		d.hw.put(addr, r)
	}
	mergeHardware(st, r, now)
}

func (d *luxosDriver) Reboot(ctx context.Context, t Target) error {
	addr := t.hostPort(DefaultPort(LuxOS))
	_, err := d.privileged(ctx, addr, "rebootdevice")
	d.hw.forget(addr)
	return err
}

func (d *luxosDriver) Locate(ctx context.Context, t Target, on bool) error {
	addr := t.hostPort(DefaultPort(LuxOS))
	state := "off"
	if on {
		state = "blink"
	}
	if _, err := d.privileged(ctx, addr, "ledset", "red", state); err != nil {
		return err
	}
	r, err := d.call(ctx, addr, "config", "")
	if err != nil {
		return err
	}
	if !r.Status[0].OK() || len(r.Config) != 1 {
		return protoErr(LuxOS, "config", errors.New("no CONFIG"))
	}
	if lit := r.Config[0].RedLed != "off" && r.Config[0].RedLed != ""; lit != on {
		return fmt.Errorf("%w: luxos RedLed %q", ErrNotConfirmed, r.Config[0].RedLed)
	}
	return nil
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
func pickProfile(ps []luxProfileWatts, watts int) (luxProfileWatts, bool) {
	var best luxProfileWatts
	found := false
	for _, p := range ps {
		if p.Watts <= float64(watts) && (!found || p.Watts > best.Watts) {
			best, found = p, true
		}
	}
	return best, found
}

func (d *luxosDriver) SetPowerTarget(ctx context.Context, t Target, watts int) error {
	ls, err := d.readFull(ctx, t)
	if err != nil {
		return err
	}
	p, ok := pickProfile(ls.profileList(), watts)
	if !ok {
		return fmt.Errorf("%w: %d W below every LuxOS profile", ErrOutOfRange, watts)
	}
	if _, err := d.privileged(ctx, t.hostPort(DefaultPort(LuxOS)), "profileset", p.Name); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "luxos profileset "+p.Name, func(ctx context.Context) (Status, error) {
		ls, err := d.readFull(ctx, t)
		if err == nil && ls.profile != p.Name {
			ls.status.Known &^= FieldPowerTarget
		}
		return ls.status, err
	}, func(s Status) bool { return s.Has(FieldPowerTarget) && s.PowerTargetW == p.Watts })
}

func (d *luxosDriver) Capabilities(ctx context.Context, t Target) (Capabilities, error) {
	ls, err := d.readFull(ctx, t)
	if err != nil {
		return Capabilities{}, err
	}
	c := Capabilities{Sleep: true}
	for _, p := range ls.profileList() {
		c.Steps = append(c.Steps, int(p.Watts))
	}
	sort.Ints(c.Steps)
	if len(c.Steps) > 0 {
		c.PowerTarget = true
		c.MinW, c.MaxW = c.Steps[0], c.Steps[len(c.Steps)-1]
	}
	return c, nil
}

package firmware

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// vnishDriver speaks the VNish web API (/api/v1 on port 80). Endpoints and
// fields follow the VNish backend of pyasic (Apache-2.0), which is the most
// complete public description; VNish publishes no formal API reference.
//
// What it can do:
//   - Sleep: POST /api/v1/mining/pause; read back as
//     summary.miner.miner_status.miner_state.
//   - Wake: POST /api/v1/mining/resume.
//   - SetPowerTarget: only to tuned autotune presets (GET
//     /api/v1/autotune/presets); picks the highest tuned preset not above
//     the target and writes settings.miner.overclock.preset. VNish answers
//     {"restart_required":false,...} even when the change failed, so the
//     preset is read back from GET /api/v1/settings.
//   - Reboot: POST /api/v1/system/reboot.
//   - Locate: POST /api/v1/find-miner toggles the LED and answers {"on":
//     bool}; the state is read first from GET /api/v1/status (find_miner)
//     so a request for the state the LED is already in sends nothing.
//   - Hardware: summary.miner's pcb_temp.max and chip_temp.max, the rpm of
//     each cooling.fans entry, and the chains (boards) whose status.state
//     is "mining". The summary has no uptime.
//
// Auth: POST /api/v1/unlock {"pw":...} returns a token sent raw in the
// Authorization header. Tokens are cached per miner; a 401 triggers one
// fresh unlock, a second 401 is ErrAuth. The default password is "admin".
type vnishDriver struct {
	cfg  *Config
	http *http.Client

	mu     sync.Mutex
	tokens map[string]string // by host:port
}

func newVNish(cfg *Config) Driver {
	return &vnishDriver{cfg: cfg, http: newHTTPClient(cfg), tokens: make(map[string]string)}
}

func (d *vnishDriver) Firmware() string { return VNish }

// VNishUnlockRequest is the body of POST /api/v1/unlock.
type VNishUnlockRequest struct {
	Password string `json:"pw"`
}

// VNishUnlockReply carries the session token.
type VNishUnlockReply struct {
	Token string `json:"token"`
}

// VNishSummary is the part of GET /api/v1/summary hashgate reads.
type VNishSummary struct {
	Miner VNishMinerSummary `json:"miner"`
}

// VNishMinerSummary is summary.miner. The hardware parts are pointers
// because summaries of a miner in failure carry them empty or not at all.
type VNishMinerSummary struct {
	PowerUsage  float64          `json:"power_usage"`
	MinerStatus VNishMinerStatus `json:"miner_status"`
	PCBTemp     *VNishMinMax     `json:"pcb_temp,omitempty"`
	ChipTemp    *VNishMinMax     `json:"chip_temp,omitempty"`
	Cooling     *VNishCooling    `json:"cooling,omitempty"`
	Chains      []VNishChain     `json:"chains,omitempty"`
}

// VNishMinMax is a sensor range, e.g. pcb_temp.
type VNishMinMax struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// VNishCooling is summary.miner.cooling.
type VNishCooling struct {
	FanNum int        `json:"fan_num"`
	Fans   []VNishFan `json:"fans"`
}

// VNishFan is one cooling.fans entry.
type VNishFan struct {
	ID  int     `json:"id"`
	RPM float64 `json:"rpm"`
}

// VNishChain is one summary.miner.chains entry (a hashboard).
type VNishChain struct {
	ID     int              `json:"id"`
	Status VNishChainStatus `json:"status"`
}

// VNishChainStatus carries a chain's state ("mining", "failure", ...).
type VNishChainStatus struct {
	State string `json:"state"`
}

// VNishStatus is the part of GET /api/v1/status hashgate reads: the
// locate LED.
type VNishStatus struct {
	MinerState string `json:"miner_state"`
	FindMiner  bool   `json:"find_miner"`
}

// VNishFindMiner is the reply to POST /api/v1/find-miner.
type VNishFindMiner struct {
	On bool `json:"on"`
}

// VNishMinerStatus carries miner_state: "mining", "paused", "stopped",
// "shutting-down", "starting", "failure", ...
type VNishMinerStatus struct {
	MinerState string `json:"miner_state"`
}

// VNishPresets is GET /api/v1/autotune/presets.
type VNishPresets struct {
	Presets []VNishPreset `json:"presets"`
}

// VNishPreset is one autotune preset; Pretty reads like "3300 watt ~ 180 TH".
type VNishPreset struct {
	Name              string `json:"name"`
	Pretty            string `json:"pretty"`
	Status            string `json:"status"`
	ModdedPSURequired bool   `json:"modded_psu_required"`
}

// Watts parses the preset's draw from Pretty; false if absent.
func (p VNishPreset) Watts() (int, bool) {
	head, _, ok := strings.Cut(p.Pretty, "~")
	if !ok {
		return 0, false
	}
	w, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(head), "watt")))
	return w, err == nil
}

// VNishSettings is the part of /api/v1/settings hashgate reads and writes.
type VNishSettings struct {
	Miner VNishMinerSettings `json:"miner"`
}

// VNishMinerSettings is settings.miner.
type VNishMinerSettings struct {
	Overclock VNishOverclock `json:"overclock"`
}

// VNishOverclock holds the active preset name ("disabled" when manual).
type VNishOverclock struct {
	Preset string `json:"preset"`
}

// VNishSettingsReply is the reply to POST /api/v1/settings.
type VNishSettingsReply struct {
	RestartRequired bool `json:"restart_required"`
	RebootRequired  bool `json:"reboot_required"`
}

func (d *vnishDriver) url(t Target, path string) string {
	return "http://" + t.hostPort(DefaultPort(VNish)) + "/api/v1/" + path
}

func (d *vnishDriver) unlock(ctx context.Context, t Target) (string, error) {
	pw := t.Password
	if pw == "" {
		pw = "admin"
	}
	r, err := httpDo(ctx, d.cfg, d.http, http.MethodPost, d.url(t, "unlock"), nil, VNishUnlockRequest{Password: pw})
	if err != nil {
		return "", err
	}
	if r.Code != http.StatusOK {
		return "", fmt.Errorf("%w: %w", ErrAuth, httpRefusal(VNish, "unlock", r))
	}
	var u VNishUnlockReply
	if err := decodeJSON(VNish, "unlock", r.Body, &u); err != nil {
		return "", err
	}
	if u.Token == "" {
		return "", protoErr(VNish, "unlock", fmt.Errorf("empty token"))
	}
	return u.Token, nil
}

// call sends an authenticated request, unlocking first or again after a
// 401, and decodes the reply into out (nil: body ignored).
func (d *vnishDriver) call(ctx context.Context, t Target, method, path string, body, out any) error {
	addr := t.hostPort(DefaultPort(VNish))
	d.mu.Lock()
	tok := d.tokens[addr]
	d.mu.Unlock()
	fresh := false
	for {
		if tok == "" {
			var err error
			if tok, err = d.unlock(ctx, t); err != nil {
				return err
			}
			fresh = true
			d.mu.Lock()
			d.tokens[addr] = tok
			d.mu.Unlock()
		}
		r, err := httpDo(ctx, d.cfg, d.http, method, d.url(t, path), http.Header{"Authorization": {tok}}, body)
		if err != nil {
			return err
		}
		if r.Code == http.StatusUnauthorized && !fresh {
			tok = ""
			continue
		}
		if r.Code != http.StatusOK {
			return httpRefusal(VNish, path, r)
		}
		if out == nil {
			return nil // the read-back decides
		}
		return decodeJSON(VNish, path, r.Body, out)
	}
}

func (d *vnishDriver) Status(ctx context.Context, t Target) (Status, error) {
	var s VNishSummary
	if err := d.call(ctx, t, http.MethodGet, "summary", nil, &s); err != nil {
		return Status{}, err
	}
	var set VNishSettings
	if err := d.call(ctx, t, http.MethodGet, "settings", nil, &set); err != nil {
		return Status{}, err
	}
	st := Status{PowerW: s.Miner.PowerUsage, Known: FieldPower}
	switch s.Miner.MinerStatus.MinerState {
	case "mining":
		st.State = StateRunning
	case "paused", "stopped", "shutting-down":
		st.State = StateSleeping
	}
	s.Miner.hardware(&st)
	// Preset names are their wattage; "disabled" means manual tuning.
	if w, err := strconv.Atoi(set.Miner.Overclock.Preset); err == nil {
		st.PowerTargetW, st.Known = float64(w), st.Known|FieldPowerTarget
	}
	return st, nil
}

// hardware copies the sensors the summary carries into st.
func (m *VNishMinerSummary) hardware(st *Status) {
	if m.PCBTemp != nil {
		st.BoardTempC, st.Known = m.PCBTemp.Max, st.Known|FieldBoardTemp
	}
	if m.ChipTemp != nil {
		st.ChipTempC, st.Known = m.ChipTemp.Max, st.Known|FieldChipTemp
	}
	if m.Cooling != nil {
		for _, f := range m.Cooling.Fans {
			st.AddFan(f.RPM)
		}
	}
	if m.Chains != nil {
		working := 0
		for _, c := range m.Chains {
			if c.Status.State == "mining" {
				working++
			}
		}
		st.SetBoards(working, len(m.Chains))
	}
}

func (d *vnishDriver) Reboot(ctx context.Context, t Target) error {
	return d.call(ctx, t, http.MethodPost, "system/reboot", struct{}{}, nil)
}

// Locate toggles find-miner when the LED is not already as asked, and
// checks the toggle's answer.
func (d *vnishDriver) Locate(ctx context.Context, t Target, on bool) error {
	var st VNishStatus
	if err := d.call(ctx, t, http.MethodGet, "status", nil, &st); err != nil {
		return err
	}
	if st.FindMiner == on {
		return nil
	}
	var fm VNishFindMiner
	if err := d.call(ctx, t, http.MethodPost, "find-miner", struct{}{}, &fm); err != nil {
		return err
	}
	if fm.On != on {
		return fmt.Errorf("%w: vnish find-miner left the LED on=%t", ErrNotConfirmed, fm.On)
	}
	return nil
}

func (d *vnishDriver) readStatus(t Target) func(context.Context) (Status, error) {
	return func(ctx context.Context) (Status, error) { return d.Status(ctx, t) }
}

func (d *vnishDriver) Sleep(ctx context.Context, t Target) error {
	if err := d.call(ctx, t, http.MethodPost, "mining/pause", struct{}{}, nil); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "vnish pause", d.readStatus(t), isSleeping)
}

func (d *vnishDriver) Wake(ctx context.Context, t Target) error {
	if err := d.call(ctx, t, http.MethodPost, "mining/resume", struct{}{}, nil); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "vnish resume", d.readStatus(t), isRunning)
}

// tunedSteps returns the tuned presets by watts.
func (d *vnishDriver) tunedSteps(ctx context.Context, t Target) (map[int]string, error) {
	var ps VNishPresets
	if err := d.call(ctx, t, http.MethodGet, "autotune/presets", nil, &ps); err != nil {
		return nil, err
	}
	steps := make(map[int]string)
	for _, p := range ps.Presets {
		if w, ok := p.Watts(); ok && p.Status == "tuned" {
			steps[w] = p.Name
		}
	}
	return steps, nil
}

func (d *vnishDriver) SetPowerTarget(ctx context.Context, t Target, watts int) error {
	steps, err := d.tunedSteps(ctx, t)
	if err != nil {
		return err
	}
	best, name := -1, ""
	for w, n := range steps {
		if w <= watts && w > best {
			best, name = w, n
		}
	}
	if best < 0 {
		return fmt.Errorf("%w: %d W below every tuned VNish preset", ErrOutOfRange, watts)
	}
	var rep VNishSettingsReply
	body := VNishSettings{Miner: VNishMinerSettings{Overclock: VNishOverclock{Preset: name}}}
	if err := d.call(ctx, t, http.MethodPost, "settings", body, &rep); err != nil {
		return err
	}
	return confirm(ctx, d.cfg, "vnish preset "+name, d.readStatus(t), func(s Status) bool {
		return s.Has(FieldPowerTarget) && s.PowerTargetW == float64(best)
	})
}

func (d *vnishDriver) Capabilities(ctx context.Context, t Target) (Capabilities, error) {
	steps, err := d.tunedSteps(ctx, t)
	if err != nil {
		return Capabilities{}, err
	}
	c := Capabilities{Sleep: true}
	for w := range steps {
		c.Steps = append(c.Steps, w)
	}
	sort.Ints(c.Steps)
	if len(c.Steps) > 0 {
		c.PowerTarget, c.MinW, c.MaxW = true, c.Steps[0], c.Steps[len(c.Steps)-1]
	}
	return c, nil
}

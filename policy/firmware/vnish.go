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

// VNishMinerSummary is summary.miner.
type VNishMinerSummary struct {
	PowerUsage  float64          `json:"power_usage"`
	MinerStatus VNishMinerStatus `json:"miner_status"`
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
	// Preset names are their wattage; "disabled" means manual tuning.
	if w, err := strconv.Atoi(set.Miner.Overclock.Preset); err == nil {
		st.PowerTargetW, st.Known = float64(w), st.Known|FieldPowerTarget
	}
	return st, nil
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

package firmware

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/rs/zerolog"

	fw "github.com/hashgate/hashgate/policy/firmware"
)

// VNish simulates the VNish web API: POST /api/v1/unlock, GET summary,
// GET/POST settings, GET autotune/presets, POST mining/pause|resume,
// GET status, POST find-miner (toggles the LED) and POST system/reboot. The
// miner's profiles are its tuned presets, named by their wattage as VNish
// names them. Like VNish, POST settings answers restart_required:false
// whether or not the preset was applied.
type VNish struct {
	miner    *Miner
	password string
	srv      httpServer

	mu     sync.Mutex
	tokens map[string]bool
}

// NewVNish returns a VNish endpoint for m; password "" means "admin".
func NewVNish(m *Miner, password string, log zerolog.Logger) *VNish {
	if password == "" {
		password = "admin"
	}
	return &VNish{miner: m, password: password, srv: httpServer{miner: m, log: log}, tokens: make(map[string]bool)}
}

// Listen starts serving on addr.
func (v *VNish) Listen(addr string) (net.Addr, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/unlock", v.unlock)
	mux.HandleFunc("GET /api/v1/summary", v.authed(v.summary))
	mux.HandleFunc("GET /api/v1/settings", v.authed(v.settings))
	mux.HandleFunc("POST /api/v1/settings", v.authed(v.setSettings))
	mux.HandleFunc("GET /api/v1/autotune/presets", v.authed(v.presets))
	mux.HandleFunc("POST /api/v1/mining/pause", v.authed(v.action(v.miner.Sleep)))
	mux.HandleFunc("POST /api/v1/mining/resume", v.authed(v.action(v.miner.Wake)))
	mux.HandleFunc("POST /api/v1/system/reboot", v.authed(v.action(v.miner.Reboot)))
	mux.HandleFunc("GET /api/v1/status", v.status)
	mux.HandleFunc("POST /api/v1/find-miner", v.authed(v.findMiner))
	return v.srv.listen(addr, mux)
}

// Close stops the endpoint.
func (v *VNish) Close() error { return v.srv.close() }

// ExpireTokens forgets every issued token, as a VNish reboot would.
func (v *VNish) ExpireTokens() {
	v.mu.Lock()
	clear(v.tokens)
	v.mu.Unlock()
}

func (v *VNish) unlock(w http.ResponseWriter, r *http.Request) {
	var req fw.VNishUnlockRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if req.Password != v.password || v.miner.has(FaultRejectAuth) {
		http.Error(w, "wrong password", http.StatusUnauthorized)
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	v.mu.Lock()
	v.tokens[tok] = true
	v.mu.Unlock()
	writeJSON(w, http.StatusOK, fw.VNishUnlockReply{Token: tok})
}

func (v *VNish) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		ok := v.tokens[r.Header.Get("Authorization")]
		v.mu.Unlock()
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func (v *VNish) summary(w http.ResponseWriter, _ *http.Request) {
	s := v.miner.State()
	state := "mining"
	if s.Sleeping {
		state = "paused"
	}
	m := fw.VNishMinerSummary{
		PowerUsage: round1(s.PowerW), MinerStatus: fw.VNishMinerStatus{MinerState: state},
		PCBTemp:  &fw.VNishMinMax{Min: round1(s.BoardTempC - 5), Max: round1(s.BoardTempC)},
		ChipTemp: &fw.VNishMinMax{Min: round1(s.ChipTempC - 8), Max: round1(s.ChipTempC)},
		Cooling:  &fw.VNishCooling{FanNum: len(s.FansRPM), Fans: []fw.VNishFan{}},
		Chains:   []fw.VNishChain{},
	}
	for i, rpm := range s.FansRPM {
		m.Cooling.Fans = append(m.Cooling.Fans, fw.VNishFan{ID: i, RPM: float64(int(rpm))})
	}
	for i := range s.Boards {
		st := "mining"
		if i >= s.BoardsWorking {
			st = "stopped"
		}
		m.Chains = append(m.Chains, fw.VNishChain{ID: i + 1, Status: fw.VNishChainStatus{State: st}})
	}
	writeJSON(w, http.StatusOK, fw.VNishSummary{Miner: m})
}

func (v *VNish) status(w http.ResponseWriter, _ *http.Request) {
	s := v.miner.State()
	state := "mining"
	if s.Sleeping {
		state = "paused"
	}
	writeJSON(w, http.StatusOK, fw.VNishStatus{MinerState: state, FindMiner: s.Locate})
}

func (v *VNish) findMiner(w http.ResponseWriter, _ *http.Request) {
	v.miner.SetLocate(!v.miner.State().Locate)
	writeJSON(w, http.StatusOK, fw.VNishFindMiner{On: v.miner.State().Locate})
}

func (v *VNish) settings(w http.ResponseWriter, _ *http.Request) {
	preset := "disabled"
	if p := v.miner.State().Profile; p != "" {
		preset = p
	}
	writeJSON(w, http.StatusOK, fw.VNishSettings{Miner: fw.VNishMinerSettings{Overclock: fw.VNishOverclock{Preset: preset}}})
}

func (v *VNish) setSettings(w http.ResponseWriter, r *http.Request) {
	var req fw.VNishSettings
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	v.miner.SetProfile(req.Miner.Overclock.Preset) // unknown presets are silently ignored
	writeJSON(w, http.StatusOK, fw.VNishSettingsReply{})
}

func (v *VNish) presets(w http.ResponseWriter, _ *http.Request) {
	out := fw.VNishPresets{Presets: []fw.VNishPreset{}}
	for _, p := range v.miner.cfg.Profiles {
		out.Presets = append(out.Presets, fw.VNishPreset{
			Name: p.Name, Pretty: fmt.Sprintf("%d watt ~ %d TH", int(p.Watts), int(p.THs)), Status: "tuned"})
	}
	writeJSON(w, http.StatusOK, out)
}

func (v *VNish) action(do func()) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		do()
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

// VNishMinerConfig is DefaultMinerConfig with presets named by wattage, as
// VNish names them.
func VNishMinerConfig() MinerConfig {
	c := DefaultMinerConfig()
	for i := range c.Profiles {
		c.Profiles[i].Name = strconv.Itoa(int(c.Profiles[i].Watts))
	}
	return c
}

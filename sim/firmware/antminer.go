package firmware

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	fw "github.com/hashgate/hashgate/policy/firmware"
)

// Antminer simulates stock Bitmain web CGI on port 80 behind HTTP digest
// auth (realm "antMiner Configuration", MD5, qop=auth):
// GET /cgi-bin/get_miner_conf.cgi, POST /cgi-bin/set_miner_conf.cgi,
// GET stats.cgi, GET reboot.cgi, POST blink.cgi and GET
// get_blink_status.cgi.
// ModeKey is the work-mode key this firmware honours; a write under the
// other key is answered "M000 OK!" and ignored, the quirk reported for
// some S19j Pro and S21 firmware.
type Antminer struct {
	miner    *Miner
	user     string
	password string
	modeKey  string
	srv      httpServer

	mu     sync.Mutex
	nonces map[string]bool
}

// NewAntminer returns a stock Antminer endpoint; empty user/password mean
// root/root, an empty modeKey means "bitmain-work-mode".
func NewAntminer(m *Miner, user, password, modeKey string, log zerolog.Logger) *Antminer {
	if user == "" {
		user = "root"
	}
	if password == "" {
		password = "root"
	}
	if modeKey == "" {
		modeKey = "bitmain-work-mode"
	}
	return &Antminer{miner: m, user: user, password: password, modeKey: modeKey,
		srv: httpServer{miner: m, log: log}, nonces: make(map[string]bool)}
}

// Listen starts serving on addr.
func (a *Antminer) Listen(addr string) (net.Addr, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/get_miner_conf.cgi", a.digest(a.getConf))
	mux.HandleFunc("POST /cgi-bin/set_miner_conf.cgi", a.digest(a.setConf))
	mux.HandleFunc("GET /cgi-bin/stats.cgi", a.digest(a.stats))
	mux.HandleFunc("GET /cgi-bin/reboot.cgi", a.digest(func(w http.ResponseWriter, _ *http.Request) {
		a.miner.Reboot()
		writeJSON(w, http.StatusOK, fw.AntminerSetReply{Stats: "success", Code: "R000", Msg: "rebooting"})
	}))
	mux.HandleFunc("POST /cgi-bin/blink.cgi", a.digest(a.blink))
	mux.HandleFunc("GET /cgi-bin/get_blink_status.cgi", a.digest(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, fw.AntminerBlink{Blink: a.miner.State().Locate})
	}))
	return a.srv.listen(addr, mux)
}

// Close stops the endpoint.
func (a *Antminer) Close() error { return a.srv.close() }

const antRealm = "antMiner Configuration"

func hexMD5(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// digest enforces RFC 7616 digest auth with MD5 and qop=auth.
func (a *Antminer) digest(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.verify(r) {
			h(w, r)
			return
		}
		var n [12]byte
		_, _ = rand.Read(n[:])
		nonce := hex.EncodeToString(n[:])
		a.mu.Lock()
		if len(a.nonces) > 1024 {
			clear(a.nonces)
		}
		a.nonces[nonce] = true
		a.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Digest realm="`+antRealm+`", nonce="`+nonce+`", qop="auth", algorithm=MD5`)
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
	}
}

func (a *Antminer) verify(r *http.Request) bool {
	h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Digest ")
	if !ok || a.miner.has(FaultRejectAuth) {
		return false
	}
	p := map[string]string{}
	for _, part := range strings.Split(h, ", ") {
		if k, v, ok := strings.Cut(part, "="); ok {
			p[k] = strings.Trim(v, `"`)
		}
	}
	a.mu.Lock()
	known := a.nonces[p["nonce"]]
	a.mu.Unlock()
	if !known || p["username"] != a.user || p["uri"] != r.URL.RequestURI() {
		return false
	}
	ha1 := hexMD5(a.user + ":" + antRealm + ":" + a.password)
	ha2 := hexMD5(r.Method + ":" + p["uri"])
	want := hexMD5(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	return p["qop"] == "auth" && p["response"] == want
}

func (a *Antminer) getConf(w http.ResponseWriter, _ *http.Request) {
	mode := "0"
	if a.miner.State().Sleeping {
		mode = "1"
	}
	writeJSON(w, http.StatusOK, fw.AntminerConf{
		"pools":             json.RawMessage(`[{"url":"stratum+tcp://hashgate.local:3333","user":"site.rig1","pass":"x"}]`),
		"bitmain-fan-ctrl":  json.RawMessage(`false`),
		"bitmain-fan-pwm":   json.RawMessage(`"100"`),
		"freq-level":        json.RawMessage(`"100"`),
		"bitmain-work-mode": json.RawMessage(strconv.Quote(mode)),
	})
}

func (a *Antminer) setConf(w http.ResponseWriter, r *http.Request) {
	var c fw.AntminerConf
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&c); err != nil {
		writeJSON(w, http.StatusOK, fw.AntminerSetReply{Stats: "error", Code: "M001", Msg: "bad json"})
		return
	}
	if _, ok := c["pools"]; !ok {
		// The CGI replaces the whole configuration; a write without pools
		// would wipe them, which the simulator refuses to model silently.
		writeJSON(w, http.StatusOK, fw.AntminerSetReply{Stats: "error", Code: "M002", Msg: "pools missing"})
		return
	}
	if raw, ok := c[a.modeKey]; ok {
		switch (fw.AntminerConf{a.modeKey: raw}).WorkMode() {
		case fw.AntminerModeSleep:
			a.miner.Sleep()
		case fw.AntminerModeNormal:
			a.miner.Wake()
		}
	}
	writeJSON(w, http.StatusOK, fw.AntminerSetReply{Stats: "success", Code: "M000", Msg: "OK!"})
}

func (a *Antminer) stats(w http.ResponseWriter, _ *http.Request) {
	s := a.miner.State()
	e := fw.AntminerStatsEntry{Elapsed: &s.UptimeS, Fan: []float64{}, Chain: []fw.AntminerChain{}}
	for _, f := range s.FansRPM {
		e.Fan = append(e.Fan, float64(int(f)))
	}
	for i := range s.Boards {
		c := fw.AntminerChain{Index: i, TempPCB: []float64{round1(s.BoardTempC - 6), round1(s.BoardTempC), 0, 0},
			TempChip: []float64{round1(s.ChipTempC - 6), round1(s.ChipTempC), 0, 0}}
		if i < s.BoardsWorking {
			c.RateReal = round1(s.HashrateTHs * 1000 / float64(max(s.BoardsWorking, 1)))
		}
		e.Chain = append(e.Chain, c)
	}
	writeJSON(w, http.StatusOK, fw.AntminerStats{Stats: []fw.AntminerStatsEntry{e}})
}

func (a *Antminer) blink(w http.ResponseWriter, r *http.Request) {
	var b fw.AntminerBlinkRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil || (b.Blink != "true" && b.Blink != "false") {
		writeJSON(w, http.StatusOK, fw.AntminerSetReply{Stats: "error", Code: "B001", Msg: "bad blink"})
		return
	}
	a.miner.SetLocate(b.Blink == "true")
	writeJSON(w, http.StatusOK, fw.AntminerSetReply{Stats: "success", Code: "B000", Msg: "OK!"})
}

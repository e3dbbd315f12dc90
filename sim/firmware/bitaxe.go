package firmware

import (
	"net"
	"net/http"

	"github.com/rs/zerolog"

	fw "github.com/hashgate/hashgate/policy/firmware"
)

// Bitaxe simulates ESP-Miner's REST API (port 80): GET /api/system/info,
// POST /api/system/pause, /api/system/resume and /api/system/restart, per
// ESP-Miner's openapi.yaml. FaultRejectAuth answers 401 as the firmware does for a
// client outside its allowed networks.
type Bitaxe struct {
	miner *Miner
	srv   httpServer
}

// NewBitaxe returns a Bitaxe endpoint for m.
func NewBitaxe(m *Miner, log zerolog.Logger) *Bitaxe {
	return &Bitaxe{miner: m, srv: httpServer{miner: m, log: log}}
}

// Listen starts serving on addr.
func (b *Bitaxe) Listen(addr string) (net.Addr, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/system/info", b.info)
	mux.HandleFunc("POST /api/system/pause", b.action(b.miner.Sleep, "Mining paused"))
	mux.HandleFunc("POST /api/system/resume", b.action(b.miner.Wake, "Mining resumed"))
	mux.HandleFunc("POST /api/system/restart", b.restart)
	return b.srv.listen(addr, mux)
}

// Close stops the endpoint.
func (b *Bitaxe) Close() error { return b.srv.close() }

func (b *Bitaxe) allowed(w http.ResponseWriter) bool {
	if b.miner.has(FaultRejectAuth) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return false
	}
	return true
}

func (b *Bitaxe) info(w http.ResponseWriter, _ *http.Request) {
	if !b.allowed(w) {
		return
	}
	s := b.miner.State()
	info := fw.BitaxeInfo{
		Power: round1(s.PowerW), HashRate: round1(s.HashrateTHs * 1000), MaxPower: b.miner.cfg.MaxW,
		Frequency: 525, CoreVoltage: 1150, MiningPaused: s.Sleeping, Hostname: "bitaxe-sim",
		Temp: ptr(round1(s.ChipTempC)), VRTemp: ptr(round1(s.BoardTempC)), UptimeSeconds: ptr(s.UptimeS),
	}
	if len(s.FansRPM) > 0 {
		info.FanRPM = ptr(float64(int(s.FansRPM[0])))
	}
	writeJSON(w, http.StatusOK, info)
}

func ptr[T any](v T) *T { return &v }

// restart answers in plain text, as ESP-Miner does, then reboots.
func (b *Bitaxe) restart(w http.ResponseWriter, _ *http.Request) {
	if !b.allowed(w) {
		return
	}
	b.miner.Reboot()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("System will restart shortly."))
}

func (b *Bitaxe) action(do func(), msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if !b.allowed(w) {
			return
		}
		do()
		writeJSON(w, http.StatusOK, fw.BitaxeMessage{Message: msg})
	}
}

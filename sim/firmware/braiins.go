package firmware

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	fw "github.com/hashgate/hashgate/policy/firmware"
)

// Braiins simulates the Braiins OS public API: gRPC over HTTP/2 cleartext
// (default port 50051), services and messages of braiins/bos-plus-api
// v1.11.0: AuthenticationService/Login, ActionsService/PauseMining and
// ResumeMining, PerformanceService/SetPowerTarget and GetTunerState,
// MinerService/GetMinerStats and GetMinerStatus (a server stream: one
// message, then held open until the client leaves) and
// ConfigurationService/GetConstraints. Tokens expire after TokenIdle
// (3600 s) without use and are refreshed by use; a bad token is
// UNAUTHENTICATED (16), an unknown method UNIMPLEMENTED (12).
type Braiins struct {
	miner    *Miner
	clock    Clock
	username string
	password string
	idle     time.Duration
	srv      httpServer

	mu     sync.Mutex
	tokens map[string]time.Time // token → last use
}

// NewBraiins returns a Braiins OS endpoint for m. Username "" means
// "root"; idle <= 0 means 3600 s.
func NewBraiins(m *Miner, clock Clock, username, password string, idle time.Duration, log zerolog.Logger) *Braiins {
	if clock == nil {
		clock = SystemClock{}
	}
	if username == "" {
		username = "root"
	}
	if idle <= 0 {
		idle = time.Hour
	}
	return &Braiins{miner: m, clock: clock, username: username, password: password, idle: idle,
		srv: httpServer{miner: m, log: log, h2c: true}, tokens: make(map[string]time.Time)}
}

// Listen starts serving on addr.
func (b *Braiins) Listen(addr string) (net.Addr, error) {
	return b.srv.listen(addr, http.HandlerFunc(b.serve))
}

// Close stops the endpoint.
func (b *Braiins) Close() error { return b.srv.close() }

// ExpireTokens forgets every issued token.
func (b *Braiins) ExpireTokens() {
	b.mu.Lock()
	clear(b.tokens)
	b.mu.Unlock()
}

const grpcMaxMessage = 1 << 20

// grpcStatus ends a call with a status in trailers-only form.
func grpcStatus(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(code))
	if msg != "" {
		h.Set("Grpc-Message", msg)
	}
	w.WriteHeader(http.StatusOK)
}

// grpcReply sends one message followed by an OK status trailer.
func grpcReply(w http.ResponseWriter, msg []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Trailer", "Grpc-Status, Grpc-Message")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(frame(msg))
	h.Set("Grpc-Status", "0")
	h.Set("Grpc-Message", "")
}

func frame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// readFrame reads the request's single uncompressed message.
func readFrame(r io.Reader) ([]byte, bool) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil || h[0] != 0 {
		return nil, false
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > grpcMaxMessage {
		return nil, false
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, false
	}
	return msg, true
}

func (b *Braiins) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		http.Error(w, "gRPC only", http.StatusUnsupportedMediaType)
		return
	}
	req, ok := readFrame(r.Body)
	if !ok {
		grpcStatus(w, 13, "malformed request frame")
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/braiins.bos.v1.")
	if method == "AuthenticationService/Login" {
		b.login(w, req)
		return
	}
	if !b.authorised(r.Header.Get("Authorization")) {
		grpcStatus(w, 16, "invalid token")
		return
	}
	s := b.miner.State()
	switch method {
	case "ActionsService/PauseMining":
		b.miner.Sleep()
		grpcReply(w, (&fw.BraiinsFlagResponse{Already: s.Sleeping}).MarshalProto())
	case "ActionsService/ResumeMining":
		b.miner.Wake()
		grpcReply(w, (&fw.BraiinsFlagResponse{Already: !s.Sleeping}).MarshalProto())
	case "PerformanceService/SetPowerTarget":
		var pt fw.BraiinsSetPowerTargetRequest
		if err := pt.UnmarshalProto(req); err != nil {
			grpcStatus(w, 3, "invalid argument")
			return
		}
		c := b.miner.Config()
		if float64(pt.Watt) < c.MinW || float64(pt.Watt) > c.MaxW {
			grpcStatus(w, 3, "power target out of range")
			return
		}
		applied := b.miner.SetTarget(float64(pt.Watt))
		grpcReply(w, (&fw.BraiinsPowerResponse{Watt: uint64(applied)}).MarshalProto())
	case "PerformanceService/GetTunerState":
		grpcReply(w, (&fw.BraiinsTunerState{Overall: 2, HasTarget: true, TargetW: uint64(math.Round(s.TargetW))}).MarshalProto())
	case "MinerService/GetMinerStats":
		grpcReply(w, (&fw.BraiinsMinerStats{GHs5s: round1(s.HashrateTHs * 1000), PowerW: uint64(math.Round(s.PowerW))}).MarshalProto())
	case "MinerService/GetMinerStatus":
		st := uint64(fw.BraiinsMinerNormal)
		if s.Sleeping {
			st = fw.BraiinsMinerPaused
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(frame((&fw.BraiinsMinerStatus{Status: st}).MarshalProto()))
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done() // a status stream stays open
	case "ActionsService/Reboot":
		b.miner.Reboot()
		grpcReply(w, nil)
	case "ActionsService/SetLocateDeviceStatus":
		var l fw.BraiinsLocate
		if err := l.UnmarshalProto(req); err != nil {
			grpcStatus(w, 3, "invalid argument")
			return
		}
		b.miner.SetLocate(l.Enabled)
		grpcReply(w, (&fw.BraiinsLocate{Enabled: b.miner.State().Locate}).MarshalProto())
	case "ActionsService/GetLocateDeviceStatus":
		grpcReply(w, (&fw.BraiinsLocate{Enabled: s.Locate}).MarshalProto())
	case "CoolingService/GetCoolingState":
		c := fw.BraiinsCoolingState{HighestC: round1(s.ChipTempC), HasHighestC: true}
		for _, f := range s.FansRPM {
			c.FansRPM = append(c.FansRPM, uint64(f))
		}
		grpcReply(w, c.MarshalProto())
	case "MinerService/GetHashboards":
		var h fw.BraiinsHashboards
		for i := range s.Boards {
			hb := fw.BraiinsHashboard{Enabled: true, ChipC: round1(s.ChipTempC - float64(i)), BoardC: round1(s.BoardTempC - float64(i)), HasChip: true, HasBrd: true}
			if i < s.BoardsWorking {
				hb.GHs5s = round1(s.HashrateTHs * 1000 / float64(s.BoardsWorking))
			}
			h.Boards = append(h.Boards, hb)
		}
		grpcReply(w, h.MarshalProto())
	case "MinerService/GetMinerDetails":
		grpcReply(w, (&fw.BraiinsMinerDetails{BosminerUptimeS: uint64(s.UptimeS), SystemUptimeS: uint64(s.UptimeS), HasSystemUptime: true}).MarshalProto())
	case "ConfigurationService/GetConstraints":
		c := b.miner.Config()
		grpcReply(w, (&fw.BraiinsConstraints{DefaultW: uint64(c.NominalW), MinW: uint64(c.MinW), MaxW: uint64(c.MaxW)}).MarshalProto())
	default:
		grpcStatus(w, 12, "unknown method")
	}
}

func (b *Braiins) login(w http.ResponseWriter, req []byte) {
	var lr fw.BraiinsLoginRequest
	if err := lr.UnmarshalProto(req); err != nil {
		grpcStatus(w, 3, "invalid argument")
		return
	}
	if lr.Username != b.username || lr.Password != b.password || b.miner.has(FaultRejectAuth) {
		grpcStatus(w, 16, "invalid credentials")
		return
	}
	var t [12]byte
	_, _ = rand.Read(t[:])
	tok := hex.EncodeToString(t[:])
	b.mu.Lock()
	b.tokens[tok] = b.clock.Now()
	b.mu.Unlock()
	grpcReply(w, (&fw.BraiinsLoginResponse{Token: tok, TimeoutS: uint32(b.idle / time.Second)}).MarshalProto())
}

// authorised checks a token and refreshes it on use.
func (b *Braiins) authorised(tok string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	last, ok := b.tokens[tok]
	now := b.clock.Now()
	if !ok || now.Sub(last) >= b.idle || b.miner.has(FaultRejectAuth) {
		delete(b.tokens, tok)
		return false
	}
	b.tokens[tok] = now
	return true
}

package firmware

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	fw "github.com/hashgate/hashgate/policy/firmware"
)

// LuxOS simulates the LuxOS API: cgminer-style JSON on TCP (default 4028).
// Implemented commands: logon, session, logoff, curtail (sleep|wakeup),
// profileset, config, power, summary, profiles and "+"-joined
// multi-commands of the read commands. One session at a time, dropped after
// SessionIdle without use; "Another session is active" is code 402 as
// LuxOS reports it. The other status codes are the simulator's own.
type LuxOS struct {
	miner *Miner
	clock Clock
	idle  time.Duration
	srv   tcpServer

	mu       sync.Mutex
	sid      string
	lastUsed time.Time
	answer   fw.CgminerStatus // for writes; zero: each command's own answer
	requests map[string]int   // by command
}

// Simulator status codes (not taken from LuxOS documentation, except 402).
const (
	luxCodeOK            = 11
	luxCodeSessionActive = 402
	luxCodeBadSession    = 403
	luxCodeBadCommand    = 14
	luxCodeBadParam      = 404
)

// NewLuxOS returns a LuxOS endpoint for m. idle <= 0 means 60 s.
func NewLuxOS(m *Miner, clock Clock, idle time.Duration, log zerolog.Logger) *LuxOS {
	if clock == nil {
		clock = SystemClock{}
	}
	if idle <= 0 {
		idle = 60 * time.Second
	}
	l := &LuxOS{miner: m, clock: clock, idle: idle, requests: make(map[string]int)}
	l.srv = tcpServer{miner: m, handle: l.handle, log: log}
	return l
}

// Listen starts serving on addr ("127.0.0.1:0" for an ephemeral port).
func (l *LuxOS) Listen(addr string) (net.Addr, error) { return l.srv.listen(addr) }

// Close stops the endpoint.
func (l *LuxOS) Close() error { return l.srv.close() }

// AnswerWrites makes the session commands that pass the session check
// answer with STATUS letter, code and msg: "W" carries the command out and
// warns, as LuxOS may; "E" refuses it for a reason that is not the session.
// An empty letter restores the normal answers.
func (l *LuxOS) AnswerWrites(letter string, code int, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answer = fw.CgminerStatus{Status: letter, Code: code, Msg: msg, Description: "LUXminer sim"}
}

// Requests reports how many requests named cmd the endpoint has received
// ("+"-joined reads count under their joined name).
func (l *LuxOS) Requests(cmd string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests[cmd]
}

func luxStatus(ok bool, code int, msg string) []fw.CgminerStatus {
	st := "S"
	if !ok {
		st = "E"
	}
	return []fw.CgminerStatus{{Status: st, When: time.Now().Unix(), Code: code, Msg: msg, Description: "LUXminer sim"}}
}

func luxErr(code int, msg string) *fw.LuxReply {
	return &fw.LuxReply{Status: luxStatus(false, code, msg), ID: 1}
}

func (l *LuxOS) handle(req []byte, _ net.Addr) []byte {
	var r fw.CgminerRequest
	if err := json.Unmarshal(req, &r); err != nil || r.Command == "" {
		return mustJSON(luxErr(luxCodeBadCommand, "Invalid JSON"))
	}
	l.mu.Lock()
	l.requests[r.Command]++
	l.mu.Unlock()
	if strings.Contains(r.Command, "+") {
		out := fw.LuxMultiReply{ID: 1}
		for _, c := range strings.Split(r.Command, "+") {
			body := l.read(c)
			if body == nil {
				body = luxErr(luxCodeBadCommand, "Invalid command")
			}
			switch c {
			case "config":
				out.Config = []fw.LuxReply{*body}
			case "power":
				out.Power = []fw.LuxReply{*body}
			case "summary":
				out.Summary = []fw.LuxReply{*body}
			case "profiles":
				out.Profiles = []fw.LuxReply{*body}
			case "temps":
				out.Temps = []fw.LuxReply{*body}
			case "fans":
				out.Fans = []fw.LuxReply{*body}
			case "devs":
				out.Devs = []fw.LuxReply{*body}
			default:
				return mustJSON(luxErr(luxCodeBadCommand, "Invalid multi-command "+c))
			}
		}
		return mustJSON(out)
	}
	body := l.read(r.Command)
	if body == nil {
		body = l.write(r.Command, r.Parameter)
	}
	return mustJSON(body)
}

// read answers the commands that need no session; nil for others.
func (l *LuxOS) read(cmd string) *fw.LuxReply {
	s := l.miner.State()
	r := &fw.LuxReply{ID: 1}
	switch cmd {
	case "config":
		mode := "None"
		if s.Sleeping {
			mode = "Sleep"
		}
		r.Status = luxStatus(true, 33, "CGMiner config")
		led := "off"
		if s.Locate {
			led = "blink"
		}
		r.Config = []fw.LuxConfig{{CurtailMode: mode, RedLed: led, IsPowerSupplyOn: !s.Sleeping, Profile: s.Profile, Model: "Antminer S21 (sim)"}}
	case "power":
		r.Status = luxStatus(true, 335, "Power")
		r.Power = []fw.LuxPower{{PSU: !s.Sleeping, Watts: round1(s.PowerW)}}
	case "summary":
		ghs := round1(s.HashrateTHs * 1000)
		r.Status = luxStatus(true, 11, "Summary")
		r.Summary = []fw.LuxSummary{{GHS5s: ghs, GHSav: ghs, Elapsed: ptr(s.UptimeS)}}
	case "temps":
		r.Status = luxStatus(true, 90, "Temps")
		r.Temps = []fw.LuxTemp{}
		for i := range s.Boards {
			r.Temps = append(r.Temps, fw.LuxTemp{ID: i, Board: round1(s.BoardTempC - float64(2*i)), Chip: round1(s.ChipTempC - float64(2*i))})
		}
	case "fans":
		r.Status = luxStatus(true, 90, "Fans")
		r.Fans = []fw.LuxFan{}
		for i, f := range s.FansRPM {
			r.Fans = append(r.Fans, fw.LuxFan{ID: i, RPM: float64(int(f))})
		}
	case "devs":
		r.Status = luxStatus(true, 9, "Devs")
		r.Devs = []fw.LuxDev{}
		for i := range s.Boards {
			d := fw.LuxDev{ASC: i, Status: "Alive"}
			if i < s.BoardsWorking {
				d.MHS5s = round1(s.HashrateTHs * 1e6 / float64(s.BoardsWorking))
			} else if !s.Sleeping {
				d.Status = "Dead"
			}
			r.Devs = append(r.Devs, d)
		}
	case "profiles":
		r.Status = luxStatus(true, 90, "Profiles")
		r.Profiles = []fw.LuxProfile{}
		for _, p := range l.miner.cfg.Profiles {
			r.Profiles = append(r.Profiles, fw.LuxProfile{Name: p.Name, Watts: p.Watts, Hashrate: p.THs, Step: "0"})
		}
	case "session":
		l.mu.Lock()
		defer l.mu.Unlock()
		l.expire()
		r.Status = luxStatus(true, 37, "Session")
		r.Session = []fw.LuxSession{{SessionID: l.sid}}
	default:
		return nil
	}
	return r
}

// expire drops an idle session; l.mu held.
func (l *LuxOS) expire() {
	if l.sid != "" && l.clock.Now().Sub(l.lastUsed) >= l.idle {
		l.sid = ""
	}
}

func (l *LuxOS) write(cmd, param string) *fw.LuxReply {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire()
	if cmd == "logon" {
		if l.miner.has(FaultRejectAuth) {
			return luxErr(luxCodeBadSession, "Logon refused")
		}
		if l.sid != "" {
			return luxErr(luxCodeSessionActive, "Another session is active")
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		l.sid, l.lastUsed = hex.EncodeToString(b[:]), l.clock.Now()
		return &fw.LuxReply{Status: luxStatus(true, 38, "Session created"), Session: []fw.LuxSession{{SessionID: l.sid}}, ID: 1}
	}
	args := strings.Split(param, ",")
	switch cmd {
	case "logoff", "curtail", "profileset", "rebootdevice", "ledset":
	default:
		return luxErr(luxCodeBadCommand, "Invalid command")
	}
	if l.sid == "" || args[0] != l.sid || l.miner.has(FaultRejectAuth) {
		return luxErr(luxCodeBadSession, "Invalid session id")
	}
	l.lastUsed = l.clock.Now()
	if l.answer.Status == "E" {
		return &fw.LuxReply{Status: []fw.CgminerStatus{l.answer}, ID: 1}
	}
	r := l.carryOut(cmd, args)
	if l.answer.Status != "" && r.Status[0].OK() {
		r.Status = []fw.CgminerStatus{l.answer}
	}
	return r
}

// carryOut runs a session command whose session is valid; l.mu held.
func (l *LuxOS) carryOut(cmd string, args []string) *fw.LuxReply {
	switch cmd {
	case "logoff":
		l.sid = ""
		return &fw.LuxReply{Status: luxStatus(true, 39, "Session ended"), ID: 1}
	case "curtail":
		if len(args) != 2 {
			return luxErr(luxCodeBadParam, "Missing curtail mode")
		}
		switch args[1] {
		case "sleep":
			l.miner.Sleep()
		case "wakeup":
			l.miner.Wake()
		default:
			return luxErr(luxCodeBadParam, "Invalid curtail mode")
		}
		return &fw.LuxReply{Status: luxStatus(true, 340, "Curtail "+args[1]), ID: 1}
	case "rebootdevice":
		l.miner.Reboot()
		l.sid = "" // the session does not survive the reboot
		return &fw.LuxReply{Status: luxStatus(true, 340, "Rebooting"), ID: 1}
	case "ledset":
		if len(args) != 3 || args[1] != "red" {
			return luxErr(luxCodeBadParam, "Invalid led")
		}
		switch args[2] {
		case "on", "blink":
			l.miner.SetLocate(true)
		case "off":
			l.miner.SetLocate(false)
		default:
			return luxErr(luxCodeBadParam, "Invalid led state")
		}
		return &fw.LuxReply{Status: luxStatus(true, 340, "Led set"), ID: 1}
	default: // profileset
		if len(args) != 2 || !l.miner.SetProfile(args[1]) {
			return luxErr(luxCodeBadParam, "Invalid profile")
		}
		return &fw.LuxReply{Status: luxStatus(true, 340, "Profile set"), Profile: []fw.LuxProfileSet{{Profile: args[1]}}, ID: 1}
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// mustJSON marshals simulator replies, which contain only plain values.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

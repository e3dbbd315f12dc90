package firmware

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	fw "github.com/hashgate/hashgate/policy/firmware"
)

// Whatsminer simulates Whatsminer API v2 on TCP (default 4028): plain
// get_token, status and summary; encrypted power_off and power_on. Tokens
// live TokenTTL (30 min) and at most 32 are kept, oldest dropped, as the
// API documentation states. A request that does not decrypt, does not
// parse or carries an unknown token is answered in plain text with code
// 135 "check token error".
type Whatsminer struct {
	miner    *Miner
	clock    Clock
	password string
	ttl      time.Duration
	srv      tcpServer

	mu     sync.Mutex
	salt   string
	tokens []wmIssued
}

type wmIssued struct {
	sign string
	at   time.Time
}

const wmMaxTokens = 32

// NewWhatsminer returns a Whatsminer endpoint for m; password "" means
// "admin", ttl <= 0 means 30 min.
func NewWhatsminer(m *Miner, clock Clock, password string, ttl time.Duration, log zerolog.Logger) *Whatsminer {
	if clock == nil {
		clock = SystemClock{}
	}
	if password == "" {
		password = "admin"
	}
	if ttl <= 0 {
		ttl = 30 * time.Minute
	}
	w := &Whatsminer{miner: m, clock: clock, password: password, ttl: ttl, salt: cryptSalt()}
	w.srv = tcpServer{miner: m, handle: w.handle, log: log}
	return w
}

// Listen starts serving on addr.
func (w *Whatsminer) Listen(addr string) (net.Addr, error) { return w.srv.listen(addr) }

// Close stops the endpoint.
func (w *Whatsminer) Close() error { return w.srv.close() }

// cryptSalt returns 8 random characters of the crypt alphabet.
func cryptSalt() string {
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&0x3f]
	}
	return string(b[:])
}

func wmReply(ok bool, code int, msg any) *fw.WhatsminerReply {
	st := "S"
	if !ok {
		st = "E"
	}
	return &fw.WhatsminerReply{Status: st, When: time.Now().Unix(), Code: code, Msg: mustJSON(msg), Description: ""}
}

func (w *Whatsminer) handle(req []byte, _ net.Addr) []byte {
	var env fw.WhatsminerEnvelope
	if err := json.Unmarshal(req, &env); err == nil && env.Enc == 1 {
		return w.privileged(env.Data)
	}
	var r fw.WhatsminerRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return mustJSON(wmReply(false, 14, "invalid JSON"))
	}
	s := w.miner.State()
	switch r.Cmd {
	case "get_token":
		return mustJSON(wmReply(true, fw.WhatsminerCodeToken, w.issue()))
	case "status":
		return mustJSON(wmReply(true, fw.WhatsminerCodeOK, fw.WhatsminerStatusMsg{
			BtminerOff: strconv.FormatBool(s.Sleeping), FirmwareVersion: "'sim'"}))
	case "summary":
		return mustJSON(fw.WhatsminerSummaryReply{
			Status:  []fw.CgminerStatus{{Status: "S", When: time.Now().Unix(), Code: 11, Msg: "Summary"}},
			Summary: []fw.WhatsminerSummary{w.summary(s)},
			ID:      1,
		})
	case "get_miner_info":
		led := "auto"
		if s.Locate {
			led = "red"
		}
		return mustJSON(wmReply(true, fw.WhatsminerCodeOK, fw.WhatsminerMinerInfo{LEDStat: led}))
	}
	return mustJSON(wmReply(false, 14, "invalid command"))
}

// summary is the SUMMARY entry for s; the sensors follow the draw.
func (w *Whatsminer) summary(s MinerState) fw.WhatsminerSummary {
	sum := fw.WhatsminerSummary{MHS1m: round1(s.HashrateTHs * 1e6), Power: round1(s.PowerW), PowerLimit: w.miner.cfg.MaxW,
		Temperature: ptr(round1(s.BoardTempC)), ChipTempMax: ptr(round1(s.ChipTempC)), Elapsed: ptr(s.UptimeS)}
	if len(s.FansRPM) > 0 {
		sum.FanSpeedIn = ptr(float64(int(s.FansRPM[0])))
		sum.FanSpeedOut = ptr(float64(int(s.FansRPM[len(s.FansRPM)-1])))
	}
	return sum
}

// issue creates a token and remembers its signature.
func (w *Whatsminer) issue() fw.WhatsminerToken {
	tok := fw.WhatsminerToken{Time: strconv.Itoa(int(w.clock.Now().Unix() % 10000)), Salt: w.salt, NewSalt: cryptSalt()}
	cred := fw.WhatsminerDerive(w.password, tok)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tokens = append(w.tokens, wmIssued{sign: cred.Sign, at: w.clock.Now()})
	if len(w.tokens) > wmMaxTokens {
		w.tokens = w.tokens[len(w.tokens)-wmMaxTokens:]
	}
	return tok
}

// valid reports whether sign belongs to a live token.
func (w *Whatsminer) valid(sign string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	for _, t := range w.tokens {
		if t.sign == sign && now.Sub(t.at) < w.ttl {
			return true
		}
	}
	return false
}

func (w *Whatsminer) privileged(data string) []byte {
	bad := mustJSON(wmReply(false, fw.WhatsminerCodeBadToken, "check token error"))
	if w.miner.has(FaultRejectAuth) {
		return bad
	}
	key := fw.WhatsminerDerive(w.password, fw.WhatsminerToken{Salt: w.salt}).Key
	plain, err := fw.WhatsminerDecrypt(key, data)
	if err != nil {
		return bad
	}
	var r fw.WhatsminerRequest
	if err := json.Unmarshal(plain, &r); err != nil || !w.valid(r.Token) {
		return bad
	}
	var rep *fw.WhatsminerReply
	switch r.Cmd {
	case "power_off":
		w.miner.Sleep()
		rep = wmReply(true, fw.WhatsminerCodeOK, "API command OK")
	case "power_on":
		w.miner.Wake()
		rep = wmReply(true, fw.WhatsminerCodeOK, "API command OK")
	case "reboot":
		w.miner.Reboot()
		rep = wmReply(true, fw.WhatsminerCodeOK, "API command OK")
	case "set_led":
		switch {
		case r.Param == "auto":
			w.miner.SetLocate(false)
		case r.Color == "red" || r.Color == "green":
			w.miner.SetLocate(true)
		default:
			rep = wmReply(false, 14, "invalid param")
		}
		if rep == nil {
			rep = wmReply(true, fw.WhatsminerCodeOK, "API command OK")
		}
	default:
		rep = wmReply(false, 14, "invalid command")
	}
	return mustJSON(fw.WhatsminerEncReply{Enc: fw.WhatsminerEncrypt(key, mustJSON(rep))})
}

// ExpireTokens forgets every issued token.
func (w *Whatsminer) ExpireTokens() {
	w.mu.Lock()
	w.tokens = nil
	w.mu.Unlock()
}

package firmware

import (
	"crypto/aes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Whatsminer API v2 messages (MicroBT "WhatsMiner API" v2.0.x, TCP 4028).
// Read commands are plain JSON {"cmd":"summary"}. Write commands need a
// token from get_token and travel encrypted: {"enc":1,"data":base64(
// AES-256-ECB(json, zero-padded))}, the reply being {"enc":"base64..."}.

// WhatsminerRequest is a command; Token and the parameters are set for
// write commands only.
type WhatsminerRequest struct {
	Cmd        string `json:"cmd"`
	Token      string `json:"token,omitempty"`
	Respbefore string `json:"respbefore,omitempty"`
	// set_led: Param "auto" hands the LED back to the firmware; otherwise
	// Color flashes for Duration ms of every Period ms, from Start ms.
	Param    string `json:"param,omitempty"`
	Color    string `json:"color,omitempty"`
	Period   int    `json:"period,omitempty"`
	Duration int    `json:"duration,omitempty"`
	Start    int    `json:"start,omitempty"`
}

// WhatsminerMinerInfo is the part of get_miner_info's Msg hashgate reads:
// ledstat is "auto" unless the LED was set by set_led.
type WhatsminerMinerInfo struct {
	LEDStat string `json:"ledstat"`
}

// WhatsminerEnvelope wraps an encrypted request.
type WhatsminerEnvelope struct {
	Enc  int    `json:"enc"`
	Data string `json:"data"`
}

// WhatsminerEncReply wraps an encrypted reply.
type WhatsminerEncReply struct {
	Enc string `json:"enc"`
}

// WhatsminerReply is the single-status reply shape of get_token, status and
// write commands; Msg is a string or an object depending on the command.
type WhatsminerReply struct {
	Status      string          `json:"STATUS"`
	When        int64           `json:"When"`
	Code        int             `json:"Code"`
	Msg         json.RawMessage `json:"Msg"`
	Description string          `json:"Description"`
}

// OK reports STATUS "S".
func (r *WhatsminerReply) OK() bool { return r.Status == "S" }

// Text returns Msg when it is a string.
func (r *WhatsminerReply) Text() string {
	var s string
	if json.Unmarshal(r.Msg, &s) == nil {
		return s
	}
	return string(r.Msg)
}

// WhatsminerToken is get_token's Msg.
type WhatsminerToken struct {
	Time    string `json:"time"`
	Salt    string `json:"salt"`
	NewSalt string `json:"newsalt"`
}

// WhatsminerStatusMsg is the status command's Msg.
type WhatsminerStatusMsg struct {
	BtminerOff      string `json:"btmineroff"`
	FirmwareVersion string `json:"Firmware Version"`
}

// WhatsminerSummaryReply is the cgminer-style reply to summary.
type WhatsminerSummaryReply struct {
	Status  []CgminerStatus     `json:"STATUS"`
	Summary []WhatsminerSummary `json:"SUMMARY"`
	ID      int                 `json:"id"`
}

// WhatsminerSummary is the part of SUMMARY hashgate reads.
type WhatsminerSummary struct {
	MHS1m      float64 `json:"MHS 1m"`
	Power      float64 `json:"Power"`
	PowerLimit float64 `json:"Power Limit"`
	// Hardware, pointers since API versions differ in what they report:
	// Temperature is the board average, fans are intake and exhaust,
	// Elapsed the mining software's uptime in seconds.
	Temperature *float64 `json:"Temperature,omitempty"`
	ChipTempMax *float64 `json:"Chip Temp Max,omitempty"`
	FanSpeedIn  *float64 `json:"Fan Speed In,omitempty"`
	FanSpeedOut *float64 `json:"Fan Speed Out,omitempty"`
	Elapsed     *int64   `json:"Elapsed,omitempty"`
}

// hardware copies the summary's sensors into st.
func (w *WhatsminerSummary) hardware(st *Status) {
	if w.Temperature != nil {
		st.BoardTempC, st.Known = *w.Temperature, st.Known|FieldBoardTemp
	}
	if w.ChipTempMax != nil {
		st.ChipTempC, st.Known = *w.ChipTempMax, st.Known|FieldChipTemp
	}
	for _, f := range []*float64{w.FanSpeedIn, w.FanSpeedOut} {
		if f != nil {
			st.AddFan(*f)
		}
	}
	if w.Elapsed != nil {
		st.UptimeS, st.Known = *w.Elapsed, st.Known|FieldUptime
	}
}

// Whatsminer status codes hashgate acts on (API v2 documentation).
const (
	WhatsminerCodeOK         = 131
	WhatsminerCodeToken      = 134
	WhatsminerCodeBadToken   = 135
	WhatsminerCodeNoWriteAPI = 45
)

// DecodeWhatsminerReply parses a single-status reply.
func DecodeWhatsminerReply(b []byte) (*WhatsminerReply, error) {
	var r WhatsminerReply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Status == "" {
		return nil, errors.New("no STATUS")
	}
	return &r, nil
}

// WhatsminerCredentials are what a token yields: the signature sent as
// "token" and the AES key.
type WhatsminerCredentials struct {
	Sign string
	Key  [32]byte
}

// cryptHash returns the hash part of an MD5Crypt result.
func cryptHash(s string) string { return s[strings.LastIndexByte(s, '$')+1:] }

// WhatsminerDerive computes the credentials for password and a token:
// key = sha256(md5crypt(pwd, salt)), sign = md5crypt(that + time, newsalt).
func WhatsminerDerive(password string, tok WhatsminerToken) WhatsminerCredentials {
	pwdHash := cryptHash(MD5Crypt(password, tok.Salt))
	return WhatsminerCredentials{
		Sign: cryptHash(MD5Crypt(pwdHash+tok.Time, tok.NewSalt)),
		Key:  sha256.Sum256([]byte(pwdHash)),
	}
}

// WhatsminerEncrypt encrypts plain with AES-256-ECB, zero padded, base64.
func WhatsminerEncrypt(key [32]byte, plain []byte) string {
	blk, _ := aes.NewCipher(key[:]) // 32-byte key cannot fail
	n := (len(plain) + 15) / 16 * 16
	buf := make([]byte, n)
	copy(buf, plain)
	for i := 0; i < n; i += 16 {
		blk.Encrypt(buf[i:i+16], buf[i:i+16])
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// WhatsminerDecrypt reverses WhatsminerEncrypt and strips the padding.
func WhatsminerDecrypt(key [32]byte, b64 string) ([]byte, error) {
	buf, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	if len(buf) == 0 || len(buf)%16 != 0 {
		return nil, fmt.Errorf("ciphertext length %d not a multiple of 16", len(buf))
	}
	blk, _ := aes.NewCipher(key[:])
	for i := 0; i < len(buf); i += 16 {
		blk.Decrypt(buf[i:i+16], buf[i:i+16])
	}
	return []byte(strings.TrimRight(string(buf), "\x00")), nil
}

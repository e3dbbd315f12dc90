package firmware

import (
	"encoding/json"
	"fmt"
)

// LuxOS replies. The API is cgminer-style JSON over TCP 4028: a request
// {"command":"curtail","parameter":"<sid>,sleep"} gets one JSON object back,
// terminated by NUL, with a STATUS array and one section per command.
// Section and field names follow the LuxOS API reference (docs.luxor.tech
// firmware API: logon, session, curtail, config, power, summary, profiles,
// profileset).

// LuxReply is the reply to one LuxOS command. Only the sections hashgate
// reads are typed; unknown sections are ignored.
type LuxReply struct {
	Status   []CgminerStatus `json:"STATUS"`
	Session  []LuxSession    `json:"SESSION,omitempty"`
	Config   []LuxConfig     `json:"CONFIG,omitempty"`
	Power    []LuxPower      `json:"POWER,omitempty"`
	Summary  []LuxSummary    `json:"SUMMARY,omitempty"`
	Profiles []LuxProfile    `json:"PROFILES,omitempty"`
	Profile  []LuxProfileSet `json:"PROFILE,omitempty"`
	ID       int             `json:"id"`
}

// LuxSession is the SESSION section of logon and session.
type LuxSession struct {
	SessionID string `json:"SessionID"`
}

// LuxConfig is the part of the CONFIG section that tells the power state.
// CurtailMode is "None" while mining and "Sleep" (or "Idle") when curtailed.
type LuxConfig struct {
	CurtailMode     string `json:"CurtailMode"`
	IsPowerSupplyOn bool   `json:"IsPowerSupplyOn"`
	Profile         string `json:"Profile"`
	Model           string `json:"Model"`
}

// LuxPower is the POWER section: the firmware's estimate of its draw.
type LuxPower struct {
	PSU   bool    `json:"PSU"`
	Watts float64 `json:"Watts"`
}

// LuxSummary is the part of SUMMARY hashgate reads.
type LuxSummary struct {
	GHS5s float64 `json:"GHS 5s"`
	GHSav float64 `json:"GHS av"`
}

// LuxProfile is one entry of PROFILES: a tuned frequency step and its
// nominal draw.
type LuxProfile struct {
	Name      string  `json:"Profile Name"`
	Frequency float64 `json:"Frequency"`
	Hashrate  float64 `json:"Hashrate"`
	Watts     float64 `json:"Watts"`
	Step      string  `json:"Step"`
}

// LuxProfileSet is the PROFILE section of the profileset reply.
type LuxProfileSet struct {
	Profile string `json:"Profile"`
}

// LuxMultiReply is the reply to a "cmd1+cmd2" multi-command: one array per
// command, each holding that command's own reply.
type LuxMultiReply struct {
	Config   []LuxReply `json:"config,omitempty"`
	Power    []LuxReply `json:"power,omitempty"`
	Summary  []LuxReply `json:"summary,omitempty"`
	Profiles []LuxReply `json:"profiles,omitempty"`
	ID       int        `json:"id"`
}

// DecodeLuxReply parses one LuxOS reply; a reply without a STATUS entry is
// malformed.
func DecodeLuxReply(b []byte) (*LuxReply, error) {
	var r LuxReply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if len(r.Status) == 0 {
		return nil, fmt.Errorf("no STATUS")
	}
	return &r, nil
}

// DecodeLuxMultiReply parses a multi-command reply; every section must hold
// exactly one reply carrying a STATUS.
func DecodeLuxMultiReply(b []byte) (*LuxMultiReply, error) {
	var r LuxMultiReply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	for name, sec := range map[string][]LuxReply{"config": r.Config, "power": r.Power, "summary": r.Summary, "profiles": r.Profiles} {
		if sec == nil {
			continue
		}
		if len(sec) != 1 || len(sec[0].Status) == 0 {
			return nil, fmt.Errorf("section %s malformed", name)
		}
	}
	return &r, nil
}

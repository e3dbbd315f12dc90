package console

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// EventView is one line of the events log and the policy timeline.
type EventView struct {
	Seq     uint64          `json:"seq"`
	At      time.Time       `json:"at"`
	Kind    string          `json:"kind"` // policy.decision, policy.applied, policy.apply_failed, policy.note.<kind>, control.<action>, or a store kind
	Level   string          `json:"level"`
	Subject string          `json:"subject,omitempty"`
	Text    string          `json:"text"`
	Actor   string          `json:"actor,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Event levels.
const (
	levelInfo = "info"
	levelWarn = "warn"
)

// policyEventView turns a runner event into a log line. Kind, subject and detail are the
// event's own (policy.Event.Name, Subject, Detail), the same the store records for it, so the
// live log and the stored trail name one event alike.
func policyEventView(ev policy.Event) EventView {
	v := EventView{At: ev.At, Kind: ev.Name(), Level: levelInfo, Subject: ev.Subject(), Detail: ev.Detail()}
	d := &ev.Decision
	switch ev.Kind {
	case policy.EventDecision:
		v.Text = fmt.Sprintf("%s %s → %.2f kW: %s", d.Action, d.MinerID, d.TargetKW, d.Reason.Text())
		if d.Reason.Safety() && d.Shed() {
			v.Level = levelWarn
		}
	case policy.EventApplied:
		v.Text = fmt.Sprintf("applied %s to %s", d.Action, d.MinerID)
	case policy.EventApplyFailed:
		v.Level = levelWarn
		v.Text = fmt.Sprintf("could not %s %s: %s", d.Action, d.MinerID, ev.Err)
	case policy.EventNote:
		n := ev.Note
		switch n.Kind {
		case policy.NoteModeChanged:
			v.Text = "policy mode is now " + n.Mode.String()
			if n.Mode != policy.ModeNormal {
				v.Level = levelWarn
			}
		case policy.NoteMeterFault:
			v.Level = levelWarn
			v.Text = fmt.Sprintf("meter %s: %s", n.Role, n.Fault)
		case policy.NoteMeterRecovered:
			v.Text = fmt.Sprintf("meter %s recovered", n.Role)
		case policy.NoteShedUnconfirmed:
			v.Level = levelWarn
			v.Text = fmt.Sprintf("miners draw %.2f kW beyond their commands: shedding others for it", n.KW)
		case policy.NoteShedConfirmed:
			v.Text = "every shed confirmed: no miner draws beyond its command"
		default:
			v.Text = n.Kind.String()
		}
	default:
		v.Text = ev.Kind.String()
	}
	return v
}

// storeEventView turns an audit record into a log line. A Detail object with a "text" string
// supplies the line (otherwise kind and subject do), and "level":"warn" marks a warning.
func storeEventView(e store.Event) EventView {
	v := EventView{Seq: uint64(e.ID), At: e.Time, Kind: e.Kind, Level: levelInfo, Subject: e.Subject, Actor: e.Actor,
		Text: e.Kind}
	if e.Subject != "" {
		v.Text += " " + e.Subject
	}
	if len(e.Detail) > 0 && string(e.Detail) != "{}" {
		v.Detail = e.Detail
		var d struct {
			Text  string `json:"text"`
			Level string `json:"level"`
		}
		if json.Unmarshal(e.Detail, &d) == nil {
			if d.Text != "" {
				v.Text = d.Text
			}
			if d.Level == levelWarn {
				v.Level = levelWarn
			}
		}
	}
	return v
}

// ring is a bounded log of recent events: the oldest is overwritten.
type ring struct {
	mu   sync.Mutex
	buf  []EventView
	next int
	full bool
	seq  uint64
}

func newRing(n int) *ring { return &ring{buf: make([]EventView, n)} }

// add stamps ev with the ring's sequence and stores it.
func (r *ring) add(ev EventView) EventView {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	ev.Seq = r.seq
	r.buf[r.next] = ev
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	return ev
}

// since returns events with Seq > after, oldest first, at most limit (newest kept).
func (r *ring) since(after uint64, limit int) []EventView {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]EventView, 0, min(n, limit))
	start := 0
	if r.full {
		start = r.next
	}
	for i := range n {
		ev := r.buf[(start+i)%len(r.buf)]
		if ev.Seq > after {
			out = append(out, ev)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

func (r *ring) last() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

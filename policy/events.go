package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind classifies a Runner event.
type EventKind uint8

// Event kinds.
const (
	EventDecision    EventKind = iota + 1 // the engine decided; Decision is set
	EventNote                             // the engine noticed something; Note is set
	EventApplied                          // the actuator carried out Decision
	EventApplyFailed                      // the actuator failed Decision; Err says why
)

var eventNames = [...]string{"", "decision", "note", "applied", "apply_failed"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is one entry of the Runner's stream for the console and the audit trail.
type Event struct {
	Seq      uint64 // increases by one per event; a gap seen by a subscriber means drops
	At       time.Time
	Kind     EventKind
	Decision Decision // EventDecision, EventApplied, EventApplyFailed
	Note     Note     // EventNote
	Err      string   // EventApplyFailed
}

// Name is the event's kind as the console shows it live and the store records it:
// policy.decision, policy.applied, policy.apply_failed or policy.note.<note kind>. One name
// for both, so a filter on the stored trail finds what the live log showed.
func (ev *Event) Name() string {
	if ev.Kind == EventNote {
		return "policy.note." + ev.Note.Kind.String()
	}
	return "policy." + ev.Kind.String()
}

// Subject is what the event concerns: the miner of a decision (decided, applied or failed),
// the meter role of a meter note, "" for other notes.
func (ev *Event) Subject() string {
	switch ev.Kind {
	case EventDecision, EventApplied, EventApplyFailed:
		return ev.Decision.MinerID
	case EventNote:
		if ev.Note.Role.Valid() {
			return ev.Note.Role.String()
		}
	}
	return ""
}

// DecisionDetail is the detail of a decision event (decided, applied or failed).
type DecisionDetail struct {
	Group    string  `json:"group,omitempty"`
	Action   string  `json:"action"`
	TargetKW float64 `json:"target_kw"`
	FromKW   float64 `json:"from_kw"`
	Reason   string  `json:"reason"`
	Why      string  `json:"why"`
	Mode     string  `json:"mode"`
	Error    string  `json:"error,omitempty"`
}

// NoteDetail is the detail of a note event.
type NoteDetail struct {
	Note  string  `json:"note"`
	Role  string  `json:"role,omitempty"`
	Fault string  `json:"fault,omitempty"`
	Mode  string  `json:"mode,omitempty"`
	KW    float64 `json:"kw"`
}

// Detail is the event's essentials as JSON, the same for the stored trail and the live log:
// a DecisionDetail for decisions, applied and failed ones, a NoteDetail for notes. Non-finite
// numbers are written as 0 (JSON has no NaN).
func (ev *Event) Detail() json.RawMessage {
	var v any
	switch ev.Kind {
	case EventNote:
		n := &ev.Note
		nd := NoteDetail{Note: n.Kind.String(), KW: finiteOr0(n.KW)}
		if n.Role.Valid() {
			nd.Role = n.Role.String()
		}
		if n.Kind == NoteMeterFault {
			nd.Fault = n.Fault.String()
		}
		if n.Kind == NoteModeChanged {
			nd.Mode = n.Mode.String()
		}
		v = nd
	default:
		d := &ev.Decision
		v = DecisionDetail{Group: d.Group, Action: d.Action.String(), TargetKW: finiteOr0(d.TargetKW), FromKW: finiteOr0(d.FromKW),
			Reason: d.Reason.String(), Why: d.Why(), Mode: d.Basis.Mode.String(), Error: ev.Err}
	}
	b, err := json.Marshal(v)
	if err != nil { // only plain strings and finite numbers above
		return json.RawMessage("{}")
	}
	return b
}

func finiteOr0(v float64) float64 {
	if finite(v) {
		return v
	}
	return 0
}

// Audit receives every decision and event for durable storage (the SQLite store implements
// it). Calls come from one goroutine, in order, off the control loop: a slow store delays
// the audit trail, never a shed. Errors are logged and counted, not retried.
type Audit interface {
	RecordDecision(ctx context.Context, d Decision) error
	RecordEvent(ctx context.Context, ev Event) error
}

// Subscription is one consumer of the event stream. Its channel is bounded; when it is full
// the oldest queued event is dropped to make room (the newest state matters most to a
// console) and Dropped counts it.
type Subscription struct {
	ch      chan Event
	dropped atomic.Uint64
	hub     *hub
}

// C returns the event channel; it is closed by Close or when the Runner stops.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped returns how many events were discarded because the consumer fell behind.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel. It is idempotent.
func (s *Subscription) Close() { s.hub.remove(s) }

// hub fans events out to subscriptions without ever blocking the publisher.
type hub struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	seq    uint64
	closed bool
}

func (h *hub) subscribe(capacity int) *Subscription {
	s := &Subscription{ch: make(chan Event, max(capacity, 1)), hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.ch)
		return s
	}
	if h.subs == nil {
		h.subs = make(map[*Subscription]struct{})
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// publish stamps ev with the next sequence number and offers it to every subscriber,
// dropping each full subscriber's oldest event.
func (h *hub) publish(ev Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.Seq = h.seq
	for s := range h.subs {
		offerDropOldest(s.ch, ev, &s.dropped)
	}
	return ev
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

// offerDropOldest sends v without blocking; when ch is full it discards the oldest element
// first. The caller must be ch's only sender.
func offerDropOldest[T any](ch chan T, v T, dropped *atomic.Uint64) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
			dropped.Add(1)
		default: // the consumer took one meanwhile; try again
		}
	}
}

package console

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/policy"
)

const (
	historyLen     = 600 // chart points kept (10 minutes at the default interval)
	eventRingLen   = 500 // events kept in memory for the log and new clients
	snapshotEvents = 200 // events sent in a snapshot
	deltaEvents    = 200 // events sent in one delta at most
	// workerRefresh is how often rows whose only change is in counters or rates are sent to
	// clients watching the worker table; a changed state, a new or a gone worker goes out with
	// the next delta. With 10,000 miners nearly every row changes every second, and the table
	// is read by people.
	workerRefresh = 5 * time.Second
)

// Messages on the websocket, server to client. Every message has "type" and "version";
// deltas apply to the state of version-1.
type snapshotMsg struct {
	Type     string      `json:"type"` // "snapshot"
	Version  uint64      `json:"version"`
	Overview Overview    `json:"overview"`
	History  []Point     `json:"history"`
	Pools    []PoolView  `json:"pools"`
	Policy   PolicyView  `json:"policy"`
	Events   []EventView `json:"events"`
}

type deltaMsg struct {
	Type     string          `json:"type"` // "delta"
	Version  uint64          `json:"version"`
	Overview *Overview       `json:"overview"`
	Point    Point           `json:"point"`
	Pools    json.RawMessage `json:"pools,omitempty"`  // only when changed
	Policy   json.RawMessage `json:"policy,omitempty"` // only when changed
	Events   []EventView     `json:"events,omitempty"` // new since the last delta
}

// workerDelta is appended to a delta for clients watching workers.
type workerDelta struct {
	Workers []WorkerRow `json:"workers"` // rows that changed or appeared
	Removed []uint64    `json:"removed"` // IDs that disconnected
}

type workersMsg struct {
	Type    string      `json:"type"` // "workers": the full table, sent when a client starts watching
	Version uint64      `json:"version"`
	Workers []WorkerRow `json:"workers"`
}

// clientMsg is what a client may send: {"type":"watch","workers":true}.
type clientMsg struct {
	Type    string `json:"type"`
	Workers bool   `json:"workers"`
}

type watchReq struct {
	c  *client
	on bool
}

// hub owns the live state: one goroutine builds a view per interval, computes one delta,
// encodes it once and offers it to every client without blocking. A client whose queue is
// full is evicted (drop policy: evict, reason slow_console_client).
type hub struct {
	b        Reader
	clk      clock.Clock
	log      zerolog.Logger
	interval time.Duration
	queue    int
	events   *ring

	register   chan *client
	unregister chan *client
	watch      chan watchReq
	refresh    chan chan struct{}
	ping       chan struct{} // received by the loop: the liveness check's proof it is not stuck
	done       chan struct{}

	// Owned by the run goroutine.
	clients  map[*client]struct{}
	watchers int
	version  uint64
	cur      *view
	history  []Point
	sentSeq  uint64
	pools    []byte
	policy   []byte
	rows     []WorkerRow                // the worker table as watching clients have it
	ticks    uint64                     // for the worker refresh cadence
	workers  *websocket.PreparedMessage // rows encoded at version workersV
	workersV uint64

	latest   atomic.Pointer[view]
	hist     atomic.Pointer[[]Point]
	nclients atomic.Int64
	evicted  atomic.Uint64
	sent     atomic.Uint64
	decided  decisionCounts
}

func newHub(b Reader, clk clock.Clock, log zerolog.Logger, interval time.Duration, queue int) *hub {
	return &hub{
		b: b, clk: clk, log: log, interval: interval, queue: queue, events: newRing(eventRingLen),
		register: make(chan *client), unregister: make(chan *client), watch: make(chan watchReq),
		refresh: make(chan chan struct{}), ping: make(chan struct{}), done: make(chan struct{}),
		clients: make(map[*client]struct{}),
	}
}

// view returns the latest view, building one if the hub has not ticked yet.
func (h *hub) view() *view {
	if v := h.latest.Load(); v != nil {
		return v
	}
	return buildView(h.b, h.clk.Now())
}

// run is the hub loop; it returns when ctx is done, after evicting every client.
func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	t := h.clk.NewTicker(h.interval)
	defer t.Stop()
	h.tick()
	for {
		select {
		case <-ctx.Done():
			for c := range h.clients {
				h.drop(c)
			}
			return
		case <-t.C():
			h.tick()
		case ack := <-h.refresh:
			h.tick()
			close(ack)
		case <-h.ping:
		case c := <-h.register:
			h.clients[c] = struct{}{}
			h.nclients.Store(int64(len(h.clients)))
			h.offer(c, h.snapshot())
		case c := <-h.unregister:
			h.drop(c)
		case w := <-h.watch:
			if _, ok := h.clients[w.c]; !ok || w.c.watching == w.on {
				continue
			}
			w.c.watching = w.on
			if w.on {
				h.watchers++
				h.offer(w.c, h.workerTable())
			} else {
				h.watchers--
			}
		}
	}
}

// drop removes c and closes its connection; a writer blocked on a hung peer returns at once.
func (h *hub) drop(c *client) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	if c.watching {
		h.watchers--
	}
	h.nclients.Store(int64(len(h.clients)))
	close(c.gone)
	_ = c.conn.Close()
}

// offer queues m for c, evicting c when its queue is full.
func (h *hub) offer(c *client, m *websocket.PreparedMessage) {
	if m == nil {
		return
	}
	select {
	case c.send <- m:
	default:
		h.evicted.Add(1)
		c.log.Info().Int("queue", cap(c.send)).Msg("console client evicted: send queue full")
		h.drop(c)
	}
}

// tick builds a view, records history and sends one delta to every client.
func (h *hub) tick() {
	now := h.clk.Now()
	nv := buildView(h.b, now)
	h.cur = nv
	h.ticks++
	h.latest.Store(nv)
	h.version++
	h.history = append(h.history, nv.point)
	if len(h.history) > historyLen {
		h.history = slices.Delete(h.history, 0, len(h.history)-historyLen)
	}
	hist := slices.Clone(h.history)
	h.hist.Store(&hist)
	d := deltaMsg{Type: "delta", Version: h.version, Overview: &nv.overview, Point: nv.point}
	if b := mustJSON(nv.pools); string(b) != string(h.pools) {
		h.pools, d.Pools = b, b
	}
	if b := mustJSON(nv.policy); string(b) != string(h.policy) {
		h.policy, d.Policy = b, b
	}
	d.Events = h.events.since(h.sentSeq, deltaEvents)
	h.sentSeq = h.events.last()
	if h.watchers == 0 {
		h.rows = nv.workers // nobody holds a table: the next watcher starts from now
	}
	if len(h.clients) == 0 {
		return
	}
	base := mustJSON(d)
	plain := prepare(base)
	var withWorkers *websocket.PreparedMessage
	if h.watchers > 0 {
		every := max(uint64(workerRefresh/h.interval), 1)
		var wd workerDelta
		wd, h.rows = diffWorkers(h.rows, nv.workers, h.ticks%every == 0)
		if len(wd.Workers) == 0 && len(wd.Removed) == 0 {
			withWorkers = plain
		} else {
			extra := mustJSON(wd)
			// {"type":...} + {"workers":...} → {"type":...,"workers":...}
			merged := make([]byte, 0, len(base)+len(extra))
			merged = append(merged, base[:len(base)-1]...)
			merged = append(merged, ',')
			merged = append(merged, extra[1:]...)
			withWorkers = prepare(merged)
		}
	}
	for c := range h.clients {
		if c.watching {
			h.offer(c, withWorkers)
		} else {
			h.offer(c, plain)
		}
	}
	h.sent.Add(1)
}

// snapshot encodes the full state for a client that just connected.
func (h *hub) snapshot() *websocket.PreparedMessage {
	v := h.cur
	s := snapshotMsg{Type: "snapshot", Version: h.version, Overview: v.overview, History: h.history,
		Pools: v.pools, Policy: v.policy, Events: h.events.since(0, snapshotEvents)}
	// Events up to sentSeq are in the snapshot; newer ones come with the next delta.
	s.Events = slices.DeleteFunc(s.Events, func(e EventView) bool { return e.Seq > h.sentSeq })
	return prepare(mustJSON(s))
}

// workerTable encodes the worker table as watching clients have it, once per version, so a
// new watcher and the deltas that follow agree.
func (h *hub) workerTable() *websocket.PreparedMessage {
	if h.workers == nil || h.workersV != h.version {
		h.workers = prepare(mustJSON(workersMsg{Type: "workers", Version: h.version, Workers: nonNil(h.rows)}))
		h.workersV = h.version
	}
	return h.workers
}

// controlChanged reports a change an operator acts on, sent with the next delta: the state,
// the gate's holds, the proof.
func controlChanged(a, b *WorkerRow) bool {
	return a.State != b.State || a.Holds != b.Holds || a.Proof != b.Proof
}

// diffWorkers walks the table clients hold (prev) and the new one (next), both sorted by ID.
// It returns the rows to send and the table clients will hold after applying them: new and
// removed workers and changed states, holds and proofs always, other changes only when full.
func diffWorkers(prev, next []WorkerRow, full bool) (workerDelta, []WorkerRow) {
	d := workerDelta{Workers: []WorkerRow{}, Removed: []uint64{}}
	held := make([]WorkerRow, 0, len(next))
	i, j := 0, 0
	for i < len(prev) || j < len(next) {
		switch {
		case j == len(next) || (i < len(prev) && prev[i].ID < next[j].ID):
			d.Removed = append(d.Removed, prev[i].ID)
			i++
		case i == len(prev) || next[j].ID < prev[i].ID:
			d.Workers = append(d.Workers, next[j])
			held = append(held, next[j])
			j++
		default:
			if prev[i] != next[j] && (full || controlChanged(&prev[i], &next[j])) {
				d.Workers = append(d.Workers, next[j])
				held = append(held, next[j])
			} else {
				held = append(held, prev[i])
			}
			i++
			j++
		}
	}
	return d, held
}

// consume feeds policy events into the event ring and the decision counters until the
// subscription ends or ctx is done.
func (h *hub) consume(ctx context.Context, sub Subscription) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C():
			if !ok {
				return
			}
			if ev.Kind == policy.EventDecision {
				h.decided.add(ev.Decision.Action, ev.Decision.Reason)
			}
			if ev.Kind == policy.EventApplied {
				continue // the decision line already says it; failures are logged below
			}
			h.events.add(policyEventView(ev))
		}
	}
}

// historyCopy returns the chart history, oldest first.
func (h *hub) historyCopy() []Point {
	if p := h.hist.Load(); p != nil {
		return *p
	}
	return []Point{}
}

// forceTick runs a tick now and waits for it (tests and benchmarks).
func (h *hub) forceTick() {
	ack := make(chan struct{})
	select {
	case h.refresh <- ack:
		<-ack
	case <-h.done:
	}
}

func prepare(b []byte) *websocket.PreparedMessage {
	m, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil { // only fails for invalid message types
		panic(err)
	}
	return m
}

// mustJSON encodes values built from plain structs, which cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// decisionCounts counts decisions by action and reason for /metrics; both are small enums.
type decisionCounts struct {
	n [8][16]atomic.Uint64
}

func (d *decisionCounts) add(a policy.Action, r policy.Reason) {
	if int(a) < len(d.n) && int(r) < len(d.n[0]) {
		d.n[a][r].Add(1)
	}
}

func (d *decisionCounts) each(f func(a policy.Action, r policy.Reason, n uint64)) {
	for a := range d.n {
		for r := range d.n[a] {
			if n := d.n[a][r].Load(); n > 0 {
				f(policy.Action(a), policy.Reason(r), n)
			}
		}
	}
}

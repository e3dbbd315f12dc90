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
	// workerRefresh is how often a followed page whose only change is in counters or rates is
	// sent again; a changed state, order or count goes out with the next delta. With 10,000
	// miners nearly every row changes every second, and the table is read by people.
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

// pageMsg is sent to a client when it starts following a page (or changes it); later
// versions of the page come with deltas, as "page", only when the page changed.
type pageMsg struct {
	Type    string     `json:"type"` // "page"
	Version uint64     `json:"version"`
	Page    workerPage `json:"page"`
}

// errorMsg answers a client message the hub cannot follow.
type errorMsg struct {
	Type  string `json:"type"` // "error"
	Error string `json:"error"`
}

// clientMsg is what a client may send: {"type":"watch","workers":true,"page":{...}} follows
// one page of the miners table (the default page when "page" is absent); "workers":false
// stops.
type clientMsg struct {
	Type    string       `json:"type"`
	Workers bool         `json:"workers"`
	Page    *workerQuery `json:"page,omitempty"`
}

type watchReq struct {
	c  *client
	on bool
	q  *workerQuery
}

// pageState is one distinct page query that clients follow, as they hold it.
type pageState struct {
	page      workerPage
	followers int
	msg       *websocket.PreparedMessage // pageMsg at msgV, for new followers
	msgV      uint64
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
	clients map[*client]struct{}
	subs    map[*client]workerQuery // clients following a page of the miners table
	pages   map[workerQuery]*pageState
	version uint64
	cur     *view
	history []Point
	sentSeq uint64
	pools   []byte
	policy  []byte
	ticks   uint64 // for the worker refresh cadence

	latest   atomic.Pointer[view]
	hist     atomic.Pointer[[]Point]
	nclients atomic.Int64
	slots    atomic.Int64 // websocket slots taken by serveWS, from before the upgrade until unregistered
	evicted  atomic.Uint64
	sent     atomic.Uint64
	decided  decisionCounts
}

func newHub(b Reader, clk clock.Clock, log zerolog.Logger, interval time.Duration, queue int) *hub {
	return &hub{
		b: b, clk: clk, log: log, interval: interval, queue: queue, events: newRing(eventRingLen),
		register: make(chan *client), unregister: make(chan *client), watch: make(chan watchReq),
		refresh: make(chan chan struct{}), ping: make(chan struct{}), done: make(chan struct{}),
		clients: make(map[*client]struct{}), subs: make(map[*client]workerQuery), pages: make(map[workerQuery]*pageState),
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
			h.follow(w)
		}
	}
}

// reserve takes one of limit websocket slots before the upgrade: a check of the registered
// count would let every handshake in flight through at once.
func (h *hub) reserve(limit int) bool {
	for {
		n := h.slots.Load()
		if n >= int64(limit) {
			return false
		}
		if h.slots.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release gives back a slot taken by reserve.
func (h *hub) release() { h.slots.Add(-1) }

// drop removes c and closes its connection; a writer blocked on a hung peer returns at once.
func (h *hub) drop(c *client) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	h.unfollow(c)
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
	if len(h.clients) == 0 {
		return
	}
	base := mustJSON(d)
	plain := prepare(base)
	every := max(uint64(workerRefresh/h.interval), 1)
	withPage := make(map[workerQuery]*websocket.PreparedMessage, len(h.pages))
	for q, ps := range h.pages {
		next := q.page(nv.workers, nv.offline)
		if !pageChanged(&ps.page, &next, h.ticks%every == 0) {
			continue
		}
		ps.page = next
		extra := mustJSON(struct {
			Page *workerPage `json:"page"`
		}{&ps.page})
		// {"type":...} + {"page":...} → {"type":...,"page":...}
		merged := make([]byte, 0, len(base)+len(extra))
		merged = append(merged, base[:len(base)-1]...)
		merged = append(merged, ',')
		merged = append(merged, extra[1:]...)
		withPage[q] = prepare(merged)
	}
	for c := range h.clients {
		m := plain
		if q, ok := h.subs[c]; ok && withPage[q] != nil {
			m = withPage[q]
		}
		h.offer(c, m)
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

// follow starts, changes or stops the page a client follows. A query the hub cannot follow
// is answered with an error message and logged; the client's previous page stays.
func (h *hub) follow(w watchReq) {
	if _, ok := h.clients[w.c]; !ok {
		return
	}
	if !w.on {
		h.unfollow(w.c)
		return
	}
	var q workerQuery
	if w.q != nil {
		q = *w.q
	}
	q, err := q.normalize()
	if err != nil {
		w.c.log.Info().Err(err).Msg("console client page query refused")
		h.offer(w.c, prepare(mustJSON(errorMsg{Type: "error", Error: err.Error()})))
		return
	}
	if old, ok := h.subs[w.c]; ok && old == q {
		return
	}
	h.unfollow(w.c)
	h.subs[w.c] = q
	ps := h.pages[q]
	if ps == nil {
		ps = &pageState{page: q.page(h.cur.workers, h.cur.offline)}
		h.pages[q] = ps
	}
	ps.followers++
	if ps.msg == nil || ps.msgV != h.version {
		ps.msg = prepare(mustJSON(pageMsg{Type: "page", Version: h.version, Page: ps.page}))
		ps.msgV = h.version
	}
	h.offer(w.c, ps.msg)
}

// unfollow ends c's page subscription, forgetting a page nobody follows any more.
func (h *hub) unfollow(c *client) {
	q, ok := h.subs[c]
	if !ok {
		return
	}
	delete(h.subs, c)
	if ps := h.pages[q]; ps != nil {
		if ps.followers--; ps.followers <= 0 {
			delete(h.pages, q)
		}
	}
}

// controlChanged reports a change an operator acts on, sent with the next delta: the state,
// the gate's holds, the proof.
func controlChanged(a, b *WorkerRow) bool {
	return a.State != b.State || a.Holds != b.Holds || a.Proof != b.Proof
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

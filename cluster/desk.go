package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// The desk is the site's console: every instance publishes a Card about itself on
// hashgate.<site>.card.<instance>, every desk keeps the cards it hears, and an operator's
// pause or resume on any console goes to the instance that owns the worker as a request on
// hashgate.<site>.op.<owner>, where the owner applies it with its own audit trail.

// OpAction is an operator action a desk carries to the owning instance.
type OpAction string

// Operator actions.
const (
	OpPause  OpAction = "pause"
	OpResume OpAction = "resume"
)

// MaxOpWorkers bounds the workers of one operator request (the console's bulk page size).
const MaxOpWorkers = 200

// Card is one instance as it describes itself to the site's consoles.
type Card struct {
	Instance string `json:"instance"`
	// ConsoleURL is where the instance's own console is reached ("" when not configured).
	ConsoleURL string `json:"console_url,omitempty"`
	Role       Role   `json:"role"`
	Epoch      uint64 `json:"epoch"`
	// Healthy is the instance's own readiness; Health says why not.
	Healthy bool   `json:"healthy"`
	Health  string `json:"health,omitempty"`
	// Workers are connected to its proxy, Paused of them held by an operator or the policy.
	Workers int `json:"workers"`
	Paused  int `json:"paused"`
	// At is when the instance wrote the card.
	At time.Time `json:"at"`
}

var _ Message = (*Card)(nil)

// Validate implements Message.
func (m *Card) Validate() error {
	switch {
	case !name.MatchString(m.Instance):
		return badf("card: instance %q", m.Instance)
	case len(m.ConsoleURL) > 512 || len(m.Health) > 512:
		return badf("card: console_url or health longer than 512 bytes")
	case m.Role > RoleIsolated:
		return badf("card: role %d", m.Role)
	case m.Workers < 0 || m.Paused < 0 || m.Paused > m.Workers:
		return badf("card: %d paused of %d workers", m.Paused, m.Workers)
	case m.At.IsZero():
		return badf("card: no time")
	}
	return nil
}

// Op asks the owning instance to apply an operator action to its workers.
type Op struct {
	Action OpAction `json:"action"`
	// Actor is who asked, and on which instance's console, for the owner's audit trail.
	Actor   string   `json:"actor"`
	Workers []string `json:"workers"`
}

var _ Message = (*Op)(nil)

// Validate implements Message.
func (m *Op) Validate() error {
	switch {
	case m.Action != OpPause && m.Action != OpResume:
		return badf("op: action %q (pause or resume)", m.Action)
	case m.Actor == "" || len(m.Actor) > 256:
		return badf("op: actor of %d bytes", len(m.Actor))
	case len(m.Workers) == 0 || len(m.Workers) > MaxOpWorkers:
		return badf("op: %d workers (1..%d)", len(m.Workers), MaxOpWorkers)
	}
	seen := make(map[string]bool, len(m.Workers))
	for i, w := range m.Workers {
		if !idOK(w) || seen[w] {
			return badf("op: workers[%d] empty, too long or listed twice", i)
		}
		seen[w] = true
	}
	return nil
}

// OpResult is one worker's outcome; Error is set when it failed.
type OpResult struct {
	Worker   string `json:"worker"`
	Instance string `json:"instance,omitempty"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
}

// OpReply answers an Op: Err refuses the whole request, else one result per worker.
type OpReply struct {
	Err     string     `json:"err,omitempty"`
	Results []OpResult `json:"results,omitempty"`
}

var _ Message = (*OpReply)(nil)

// Validate implements Message.
func (m *OpReply) Validate() error {
	if len(m.Err) > 4096 || len(m.Results) > MaxOpWorkers {
		return badf("op reply: %d bytes of error, %d results", len(m.Err), len(m.Results))
	}
	for _, r := range m.Results {
		if len(r.Worker) > 256 || len(r.Error) > 4096 {
			return badf("op reply: a result too long")
		}
	}
	return nil
}

// Operator is the instance's own side of the desk (the app): its state for the card and the
// operator actions on its own workers.
type Operator interface {
	// Card fills the instance's own state: health, workers, paused (Instance, Role, Epoch,
	// ConsoleURL and At are the desk's).
	Card() Card
	// Operate applies action to each listed worker on this instance, audited with actor, and
	// reports each worker's outcome in the order given.
	Operate(ctx context.Context, actor string, action OpAction, workers []string) []OpResult
}

// DeskOptions are a Desk's settings. Zero fields have the stated defaults.
type DeskOptions struct {
	// ConsoleURL is this instance's console address as operators reach it.
	ConsoleURL string
	// Every is how often the card is published; zero is the lease TTL.
	Every time.Duration
	// OpTimeout bounds the wait for an owner's answer; zero is 10 s.
	OpTimeout time.Duration
	Logger    zerolog.Logger
}

// maxOpsInFlight bounds the operator requests an owner serves at once; beyond it a request is
// answered busy at once rather than queued behind a slow store.
const maxOpsInFlight = 4

// Desk is one instance's part of the site console. It owns the cards heard from the site.
type Desk struct {
	n    *Node
	op   Operator
	opts DeskOptions
	log  zerolog.Logger

	mu    sync.Mutex
	cards map[string]heardCard

	slots              chan struct{}
	bad, busy, served  atomic.Uint64
	remoteOK, remoteKO atomic.Uint64
}

type heardCard struct {
	Card
	heard time.Time
}

// NewDesk builds the desk of node n; op is the instance's own side.
func NewDesk(n *Node, op Operator, o DeskOptions) *Desk {
	if o.Every <= 0 {
		o.Every = n.cfg.LeaseTTL.D()
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 10 * time.Second
	}
	return &Desk{n: n, op: op, opts: o, log: o.Logger.With().Str("component", "site-desk").Logger(),
		cards: map[string]heardCard{}, slots: make(chan struct{}, maxOpsInFlight)}
}

// Run publishes the card and serves operator requests until ctx ends. It waits for the
// Node's connection, so it may start before the Node runs.
func (d *Desk) Run(ctx context.Context) error {
	t := d.n.clk.NewTicker(d.opts.Every / 4)
	defer t.Stop()
	var nc *nats.Conn
	for nc = d.n.nc.Load(); nc == nil; nc = d.n.nc.Load() {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
	subs := make([]*nats.Subscription, 0, 2)
	for _, s := range []struct {
		subj string
		f    nats.MsgHandler
	}{{d.n.subject("card", "*"), d.onCard}, {d.n.subject("op", d.n.inst), d.onOp}} {
		sub, err := nc.Subscribe(s.subj, s.f)
		if err != nil {
			return err
		}
		subs = append(subs, sub)
	}
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	last := time.Time{}
	for {
		if now := d.n.clk.Now(); now.Sub(last) >= d.opts.Every {
			last = now
			d.publishCard(nc)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// own is this instance's card as it publishes it.
func (d *Desk) own() Card {
	c := d.op.Card()
	st := d.n.Status()
	c.Instance, c.ConsoleURL, c.Role, c.Epoch, c.At = d.n.inst, d.opts.ConsoleURL, st.Role, st.Epoch, d.n.clk.Now()
	if c.Paused > c.Workers {
		c.Paused = c.Workers
	}
	return c
}

func (d *Desk) publishCard(nc *nats.Conn) {
	c := d.own()
	b, err := encode(&c)
	if err != nil {
		d.log.Warn().Err(err).Msg("own card not published")
		return
	}
	if err := nc.Publish(d.n.subject("card", d.n.inst), b); err != nil {
		d.log.Info().Err(err).Msg("card not published")
	}
}

func (d *Desk) onCard(msg *nats.Msg) {
	var c Card
	if err := decode(msg.Data, &c); err != nil {
		d.refuse(msg, err)
		return
	}
	if msg.Subject != d.n.subject("card", c.Instance) {
		d.refuse(msg, badf("card of %q on another instance's subject", c.Instance))
		return
	}
	now := d.n.clk.Now()
	d.mu.Lock()
	if _, known := d.cards[c.Instance]; !known && len(d.cards) >= maxPeers {
		// Full: forget instances silent as long as the node forgets them, else refuse.
		for inst, h := range d.cards {
			if now.Sub(h.heard) > forgetAfter*d.n.cfg.StaleAfter.D() {
				delete(d.cards, inst)
			}
		}
		if len(d.cards) >= maxPeers {
			d.mu.Unlock()
			d.refuse(msg, badf("card of %q: already %d instances", c.Instance, maxPeers))
			return
		}
	}
	d.cards[c.Instance] = heardCard{Card: c, heard: now}
	d.mu.Unlock()
}

func (d *Desk) refuse(msg *nats.Msg, err error) {
	d.bad.Add(1)
	d.log.Warn().Err(err).Str("subject", msg.Subject).Int("bytes", len(msg.Data)).Msg("site console message refused")
}

// onOp serves one operator request for this instance's workers. A bad request is answered
// with its error; the work runs off NATS's delivery goroutine, at most maxOpsInFlight at once.
func (d *Desk) onOp(msg *nats.Msg) {
	var op Op
	if err := decode(msg.Data, &op); err != nil {
		d.refuse(msg, err)
		d.answer(msg, OpReply{Err: err.Error()})
		return
	}
	select {
	case d.slots <- struct{}{}:
	default:
		d.busy.Add(1)
		d.answer(msg, OpReply{Err: "busy: too many operator requests in flight"})
		return
	}
	go func() {
		defer func() { <-d.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), d.opts.OpTimeout)
		defer cancel()
		res := d.op.Operate(ctx, op.Actor, op.Action, op.Workers)
		for i := range res {
			res[i].Instance = d.n.inst
		}
		d.served.Add(1)
		d.answer(msg, OpReply{Results: res})
	}()
}

func (d *Desk) answer(msg *nats.Msg, r OpReply) {
	if msg.Reply == "" {
		return
	}
	b, err := encode(&r)
	if err != nil {
		b, _ = encode(&OpReply{Err: "reply not encodable"})
	}
	if err := msg.Respond(b); err != nil {
		d.log.Info().Err(err).Msg("operator reply not sent")
	}
}

// SiteInstance is one instance on the site console: what its inventory and its card say.
type SiteInstance struct {
	Name       string `json:"name"`
	ConsoleURL string `json:"console_url,omitempty"`
	// Role as the instance last described itself; isolated also when its inventory says so.
	Role    Role   `json:"role"`
	Epoch   uint64 `json:"epoch"`
	Healthy bool   `json:"healthy"`
	Health  string `json:"health,omitempty"`
	// LastHeard is the latest of its card and its inventory.
	LastHeard time.Time `json:"last_heard"`
	// Stale: nothing heard for stale_after.
	Stale bool `json:"stale"`
	// Miners under the site's policy (its inventory); Workers connected, Paused of them.
	Miners  int  `json:"miners"`
	Workers int  `json:"workers"`
	Paused  int  `json:"paused"`
	Self    bool `json:"self,omitempty"`
}

// Site is the site console's summary: this instance's view of every instance.
type Site struct {
	Site      string         `json:"site"`
	Instance  string         `json:"instance"`
	Leader    string         `json:"leader"`
	Epoch     uint64         `json:"epoch"`
	Instances []SiteInstance `json:"instances"`
}

// Site returns every instance this one has heard, sorted by name; its own from its live state.
func (d *Desk) Site() Site {
	st := d.n.Status()
	now := d.n.clk.Now()
	stale := d.n.cfg.StaleAfter.D()
	byName := map[string]*SiteInstance{}
	get := func(name string) *SiteInstance {
		si := byName[name]
		if si == nil {
			si = &SiteInstance{Name: name, Role: RoleFollower}
			byName[name] = si
		}
		return si
	}
	d.mu.Lock()
	for _, c := range d.cards {
		si := get(c.Instance)
		si.ConsoleURL, si.Role, si.Epoch, si.Healthy, si.Health = c.ConsoleURL, c.Role, c.Epoch, c.Healthy, c.Health
		si.Workers, si.Paused, si.LastHeard = c.Workers, c.Paused, c.heard
	}
	d.mu.Unlock()
	for _, in := range st.Instances {
		si := get(in.Name)
		si.Miners = in.Miners
		if in.LastSeen.After(si.LastHeard) {
			si.LastHeard = in.LastSeen
		}
		if in.Isolated {
			si.Role = RoleIsolated
		}
	}
	own := d.own()
	self := get(own.Instance)
	self.ConsoleURL, self.Role, self.Epoch, self.Healthy, self.Health = own.ConsoleURL, own.Role, own.Epoch, own.Healthy, own.Health
	self.Workers, self.Paused, self.LastHeard, self.Self = own.Workers, own.Paused, now, true
	out := Site{Site: st.Site, Instance: st.Instance, Leader: st.Leader, Epoch: st.Epoch, Instances: make([]SiteInstance, 0, len(byName))}
	for _, si := range byName {
		si.Stale = !si.Self && now.Sub(si.LastHeard) > stale
		if si.Stale {
			si.Healthy = false
			if si.Health == "" {
				si.Health = "not heard for " + strconv.FormatFloat(now.Sub(si.LastHeard).Seconds(), 'f', 0, 64) + " s"
			}
		}
		out.Instances = append(out.Instances, *si)
	}
	sort.Slice(out.Instances, func(i, j int) bool { return out.Instances[i].Name < out.Instances[j].Name })
	return out
}

// SiteMiner is one miner of the site's inventory with the instance that owns it.
type SiteMiner struct {
	MinerView
	Instance string `json:"instance"`
	// Stale: its instance was not heard for stale_after.
	Stale bool `json:"stale,omitempty"`
}

// Miners returns every miner of every instance's inventory, sorted by instance then worker.
func (d *Desk) Miners() []SiteMiner {
	n := d.n
	n.mu.Lock()
	out := make([]SiteMiner, 0, len(n.owner))
	for inst, p := range n.peers {
		for _, m := range p.miners {
			out = append(out, SiteMiner{MinerView: ViewOf(m), Instance: inst, Stale: p.stale})
		}
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		if a.Worker != b.Worker {
			return a.Worker < b.Worker
		}
		return a.ID < b.ID
	})
	return out
}

// ErrNoOwner is a worker's error when no instance of the site reports it.
var ErrNoOwner = errors.New("no instance of the site reports this worker")

// Operate applies action to workers wherever they are: this instance's own through its
// Operator, the others' by one request per owning instance, in parallel. Each worker's
// outcome comes back in the order given; an owner that does not answer fails its workers.
func (d *Desk) Operate(ctx context.Context, actor string, action OpAction, workers []string) ([]OpResult, error) {
	op := Op{Action: action, Actor: actor, Workers: workers}
	if err := op.Validate(); err != nil {
		return nil, err
	}
	owners := d.owners()
	byOwner := map[string][]string{}
	out := make([]OpResult, len(workers))
	index := make(map[string]int, len(workers))
	for i, w := range workers {
		index[w] = i
		out[i] = OpResult{Worker: w}
		if o, ok := owners[w]; ok {
			byOwner[o] = append(byOwner[o], w)
		} else {
			out[i].Error = ErrNoOwner.Error()
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for owner, list := range byOwner {
		wg.Go(func() {
			res := d.operateAt(ctx, owner, Op{Action: action, Actor: actor, Workers: list})
			mu.Lock()
			defer mu.Unlock()
			for _, r := range res {
				if i, ok := index[r.Worker]; ok && out[i].Instance == "" {
					r.Instance = owner
					out[i] = r
				}
			}
		})
	}
	wg.Wait()
	for i := range out {
		if out[i].Error == "" && !out[i].OK && out[i].Instance == "" {
			out[i].Error = "the owning instance did not report this worker"
		}
	}
	return out, nil
}

// owners maps each worker name of the site's inventory to the instance that reports it.
func (d *Desk) owners() map[string]string {
	n := d.n
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]string, len(n.owner))
	for inst, p := range n.peers {
		for _, m := range p.miners {
			if m.Worker != "" {
				out[m.Worker] = inst
			}
		}
	}
	return out
}

func (d *Desk) operateAt(ctx context.Context, owner string, op Op) []OpResult {
	fail := func(msg string) []OpResult {
		d.remoteKO.Add(1)
		res := make([]OpResult, len(op.Workers))
		for i, w := range op.Workers {
			res[i] = OpResult{Worker: w, Instance: owner, Error: msg}
		}
		return res
	}
	if owner == d.n.inst {
		return d.op.Operate(ctx, op.Actor, op.Action, op.Workers)
	}
	nc := d.n.nc.Load()
	if nc == nil {
		return fail("not connected to the site")
	}
	b, err := encode(&op)
	if err != nil {
		return fail(err.Error())
	}
	rctx, cancel := context.WithTimeout(ctx, d.opts.OpTimeout)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, d.n.subject("op", owner), b)
	if err != nil {
		return fail(fmt.Sprintf("instance %s did not answer: %v", owner, err))
	}
	var r OpReply
	if err := decode(msg.Data, &r); err != nil {
		return fail(fmt.Sprintf("instance %s answered badly", owner))
	}
	if r.Err != "" {
		return fail(fmt.Sprintf("instance %s refused: %s", owner, r.Err))
	}
	d.remoteOK.Add(1)
	return r.Results
}

// DeskCounters are the desk's counts since start.
type DeskCounters struct {
	// Refused: bad cards or requests from peers. Busy: requests answered busy.
	Refused, Busy, Served, RemoteOK, RemoteFailed uint64
}

// Counters returns the desk's counts.
func (d *Desk) Counters() DeskCounters {
	return DeskCounters{Refused: d.bad.Load(), Busy: d.busy.Load(), Served: d.served.Load(),
		RemoteOK: d.remoteOK.Load(), RemoteFailed: d.remoteKO.Load()}
}

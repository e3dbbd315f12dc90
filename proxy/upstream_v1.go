package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// upstreamV1 is one Stratum V1 connection to a pool account. It reconnects by itself with
// jittered exponential backoff; while it is down, shares for its jobs are not forwarded.
type upstreamV1 struct {
	pl  *pool
	idx int
	log zerolog.Logger

	mu        sync.Mutex
	connected bool
	en1       []byte
	n2        int
	mask      uint32
	diff      float64 // difficulty for the next job (set_difficulty applies to jobs after it)
	target    work.Target
	cur       *work.Job
	last      time.Time
	lat       time.Duration
	pending   map[int64]*pendingReq
	workers   map[string]workerAuth // per connection: what the pool said to each worker name
	maxNames  int                   // bound on workers (maxWorkerNames; tests lower it)
	pruneAt   time.Time             // when sweep next forgets the names of departed workers
	namesFull bool                  // workers is full of live names: new ones wait for a prune
	namesLogd bool                  // namesFull was logged this session
	upSince   time.Time             // when this session got its subscribe answer (zero: not yet)
	out       chan []byte           // the current connection's bounded send queue
	noConfig  bool                  // the pool dropped us after mining.configure: retry without it
	subscribe bool                  // subscribe answered on this connection
	kill      context.CancelFunc
	fresh     bool // no job yet on this session
	early     []*sv1.Message

	nextID atomic.Int64
}

type workerAuth uint8

const (
	authPending workerAuth = iota + 1
	authOK
	authFailed
)

// pendingReq is a request awaiting the pool's answer.
type pendingReq struct {
	kind string
	// worker is, for an authorize, the name authorized (empty: the pool user); for a
	// submit, the name the share went under.
	worker string
	miner  string // submit: the downstream worker, for the reject log
	job    string // submit: the pool's job id
	// belowPool: a block candidate that missed the pool's share target; the pool's verdict
	// on it says nothing about the pool's health.
	belowPool bool
	sent      time.Time
	done      func(verdict)
}

const upstreamQueue = 4096

// maxPending bounds requests awaiting the pool's answer on one connection.
const maxPending = 16384

func newUpstreamV1(pl *pool, idx int) *upstreamV1 {
	return &upstreamV1{
		pl:       pl,
		idx:      idx,
		log:      pl.p.log.With().Str("pool", pl.cfg.Name).Int("conn", idx).Logger(),
		pending:  map[int64]*pendingReq{},
		workers:  map[string]workerAuth{},
		maxNames: maxWorkerNames,
	}
}

func (u *upstreamV1) index() int          { return u.idx }
func (u *upstreamV1) poolName() string    { return u.pl.cfg.Name }
func (u *upstreamV1) owner() *pool        { return u.pl }
func (u *upstreamV1) up() bool            { u.mu.Lock(); defer u.mu.Unlock(); return u.connected }
func (u *upstreamV1) versionMask() uint32 { u.mu.Lock(); defer u.mu.Unlock(); return u.mask }
func (u *upstreamV1) current() *work.Job {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cur
}
func (u *upstreamV1) lastJob() time.Time     { u.mu.Lock(); defer u.mu.Unlock(); return u.last }
func (u *upstreamV1) latency() time.Duration { u.mu.Lock(); defer u.mu.Unlock(); return u.lat }
func (u *upstreamV1) difficulty() float64    { u.mu.Lock(); defer u.mu.Unlock(); return u.diff }

// run keeps the connection up until the proxy closes.
func (u *upstreamV1) run() { reconnectLoop(u.pl.ctx, u.pl.p, u.log, u.pl.tracked(u.idx, u.session)) }

// sweepEvery is how often a connection looks for requests the pool left unanswered: a
// fraction of the shortest timeout, at most a second.
func sweepEvery(cfg *Config) time.Duration {
	return min(time.Second, max(10*time.Millisecond, min(cfg.SubmitTimeout.D(), cfg.WorkerAuthTimeout.D())/4))
}

// startSweep runs sweep on the proxy's clock until ctx ends; the returned stop ends it and
// waits for it, so no sweep outlives its session.
func startSweep(ctx context.Context, cancel context.CancelFunc, p *Proxy, sweep func(now time.Time)) (stop func()) {
	done := make(chan struct{})
	t := p.clk.NewTicker(sweepEvery(&p.cfg))
	go func() {
		defer close(done)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C():
				sweep(now)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// sweep ends every request the pool has left unanswered too long. A submit past
// submit_timeout is counted unknown; a worker's authorize past worker_auth_timeout means the
// pool does not answer them (ckpool ignores all but a connection's first), so the pool gets
// every share under its user; a subscribe never answered leaves the connection useless, so
// it is closed and made again.
func (u *upstreamV1) sweep(now time.Time) {
	cfg := &u.pl.p.cfg
	var late []*pendingReq
	u.mu.Lock()
	for id, r := range u.pending {
		limit := cfg.SubmitTimeout.D()
		if r.kind == "authorize" && r.worker != "" {
			limit = cfg.WorkerAuthTimeout.D()
		}
		if now.Sub(r.sent) < limit {
			continue
		}
		delete(u.pending, id)
		if r.kind == "authorize" && r.worker != "" {
			u.workers[r.worker] = authFailed
		}
		late = append(late, r)
	}
	kill := u.kill
	prune := !now.Before(u.pruneAt)
	if prune {
		u.pruneAt = now.Add(workerPruneEvery)
	}
	u.mu.Unlock()
	if prune {
		u.pruneWorkers()
	}
	for _, r := range late {
		switch r.kind {
		case "submit":
			u.pl.timedOut(!r.belowPool)
			if r.done != nil {
				r.done(verdict{known: false, message: "no answer within submit_timeout"})
			}
		case "authorize":
			if r.worker != "" {
				u.pl.fallBack("no answer to the authorize of " + r.worker + " within worker_auth_timeout")
			}
		case "subscribe":
			u.log.Warn().Msg("pool did not answer subscribe; reconnecting")
			u.pl.noteDown(u.idx, "no answer to mining.subscribe within submit_timeout")
			if kill != nil {
				kill()
			}
		}
	}
}

// afterChan is a channel that fires after d on the proxy's clock.
func afterChan(p *Proxy, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	p.clk.AfterFunc(d, func() { close(ch) })
	return ch
}

var errPoolClosed = errors.New("pool closed the connection")

// session runs one connection: dial, pipelined handshake, then the read loop; the writer runs
// beside it. It returns how long the connection carried work and why it ended.
func (u *upstreamV1) session() (upFor time.Duration, err error) {
	p := u.pl.p
	defer func() {
		u.mu.Lock()
		if !u.upSince.IsZero() {
			upFor = p.clk.Now().Sub(u.upSince)
		}
		u.upSince = time.Time{}
		u.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(u.pl.ctx)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
	conn, err := p.dial(dctx, "tcp", u.pl.ep.Host)
	dcancel()
	if err != nil {
		return 0, err
	}
	if u.pl.ep.TLS {
		host, _, _ := net.SplitHostPort(u.pl.ep.Host)
		tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
		tc.SetDeadline(time.Now().Add(15 * time.Second))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return 0, err
		}
		tc.SetDeadline(time.Time{})
		conn = tc
	}
	out := make(chan []byte, upstreamQueue)
	u.mu.Lock()
	u.out, u.kill = out, cancel
	u.en1, u.n2, u.subscribe, u.early = nil, 0, false, nil
	// A new session: nothing negotiated on the last one carries over, and its first job
	// retires the old session's work (its extranonce1 is gone).
	u.mask, u.diff, u.fresh = 0, 0, true
	u.workers, u.namesFull, u.namesLogd = map[string]workerAuth{}, false, false
	noConfig := u.noConfig
	u.mu.Unlock()
	u.pl.freshSession(u.idx)

	defer runWriter(ctx, cancel, conn, out, 8<<10, u.pl.p.cfg.WriteTimeout.D(), u.teardown)()
	defer startSweep(ctx, cancel, p, u.sweep)()

	// Pipelined handshake, as firmware does it: configure, subscribe, authorize.
	if !noConfig {
		u.request(&pendingReq{kind: "configure"}, &sv1.Configure{
			Extensions:                []string{"version-rolling"},
			VersionRollingMask:        0x1fffe000,
			HasVersionRollingMask:     true,
			VersionRollingMinBitCount: 2,
			HasMinBitCount:            true,
		})
	}
	u.request(&pendingReq{kind: "subscribe"}, &sv1.Subscribe{UserAgent: p.cfg.UserAgent})
	u.request(&pendingReq{kind: "authorize"}, &sv1.Authorize{Username: u.pl.cfg.User, Password: u.pl.cfg.Password})

	lr := sv1.NewLineReader(conn, p.cfg.MaxLine)
	var m sv1.Message
	for {
		conn.SetReadDeadline(time.Now().Add(p.cfg.JobTimeout.D() + 30*time.Second))
		line, err := lr.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errPoolClosed
			}
			u.mu.Lock()
			if !u.subscribe && !u.noConfig && ctx.Err() == nil {
				// Some pools drop a client that sends mining.configure: try without it. (A
				// connection we closed ourselves, for an unanswered subscribe, says nothing
				// about configure.)
				u.noConfig = true
			}
			u.mu.Unlock()
			return 0, err
		}
		if err := sv1.DecodeInto(&m, line); err != nil {
			u.log.Warn().Err(err).Msg("malformed line from pool")
			continue
		}
		u.handle(&m)
	}
}

// teardown fails every request still waiting on the lost connection; its shares are counted
// unforwarded (whether the pool read them is unknowable, and it will never say).
func (u *upstreamV1) teardown() {
	u.mu.Lock()
	u.connected = false
	u.out, u.kill = nil, nil
	u.cur = nil // the session's work dies with it
	pend := u.pending
	u.pending = map[int64]*pendingReq{}
	u.mu.Unlock()
	n := 0
	for _, r := range pend {
		if r.kind == "submit" {
			n++
		}
	}
	u.pl.lost(n, "connection lost with shares in flight")
	for _, r := range pend {
		if r.done != nil {
			r.done(verdict{known: false, message: "pool connection lost"})
		}
	}
}

// request queues a request; r.done (may be nil) gets the response.
func (u *upstreamV1) request(r *pendingReq, params sv1.Params) bool {
	id := u.nextID.Add(1)
	line, err := sv1.AppendRequest(nil, sv1.IntID(id), params)
	if err != nil {
		u.log.Error().Err(err).Str("kind", r.kind).Msg("encoding request")
		return false
	}
	u.mu.Lock()
	out := u.out
	if out == nil || len(u.pending) >= maxPending {
		// No connection, or a pool that has stopped answering: the named drop policy is to
		// refuse the new request (its verdict becomes "unknown") rather than grow without end.
		u.mu.Unlock()
		if out != nil {
			u.pl.p.drops.upstreamQueue.Add(1)
		}
		return false
	}
	r.sent = u.pl.p.clk.Now()
	u.pending[id] = r
	select {
	case out <- line:
		u.mu.Unlock()
		return true
	default:
		delete(u.pending, id)
		u.mu.Unlock()
		u.pl.p.drops.upstreamQueue.Add(1)
		return false
	}
}

func (u *upstreamV1) send(line []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.out == nil {
		return
	}
	select {
	case u.out <- line:
	default:
		u.pl.p.drops.upstreamQueue.Add(1)
	}
}

func (u *upstreamV1) handle(m *sv1.Message) {
	if m.IsResponse() {
		u.handleResponse(m)
		return
	}
	switch m.Method {
	case sv1.MethodSetDifficulty:
		var sd sv1.SetDifficulty
		if err := m.UnmarshalParams(&sd); err != nil {
			u.log.Warn().Err(err).Msg("bad set_difficulty")
			return
		}
		d, err := strconv.ParseFloat(string(sd.Difficulty), 64)
		if err != nil {
			return
		}
		t, err := work.TargetFromDifficulty(d)
		if err != nil {
			u.log.Warn().Err(err).Msg("bad set_difficulty")
			return
		}
		u.mu.Lock()
		u.diff, u.target = d, t
		u.mu.Unlock()
	case sv1.MethodNotify:
		u.mu.Lock()
		if !u.subscribe {
			// Work can arrive before the subscribe reply: keep it for when we know extranonce1.
			cp := *m
			cp.Params = append(json.RawMessage(nil), m.Params...)
			u.early = append(u.early[:0], &cp)
			u.mu.Unlock()
			return
		}
		u.mu.Unlock()
		u.handleNotify(m)
	case sv1.MethodSetVersionMask:
		var vm sv1.SetVersionMask
		if err := m.UnmarshalParams(&vm); err == nil {
			u.mu.Lock()
			u.mask = vm.Mask
			u.mu.Unlock()
		}
	case sv1.MethodSetExtranonce:
		var se sv1.SetExtranonce
		if err := m.UnmarshalParams(&se); err == nil {
			u.mu.Lock()
			u.en1, u.n2 = se.Extranonce1, se.Extranonce2Size
			u.mu.Unlock()
			u.log.Info().Int("extranonce2_size", se.Extranonce2Size).Msg("pool changed extranonce; applies from the next job")
		}
	case sv1.MethodReconnect:
		// We always reconnect to the configured pool: following a redirect to another host
		// would let a pool (or whoever speaks for it) move the fleet.
		u.log.Info().Msg("pool asked us to reconnect")
		u.mu.Lock()
		kill := u.kill
		u.mu.Unlock()
		if kill != nil {
			kill()
		}
	case sv1.MethodGetVersion:
		if m.IsRequest() {
			line, _ := sv1.AppendResponse(nil, m.ID, u.pl.p.cfg.UserAgent, nil)
			u.send(line)
		}
	case sv1.MethodPing:
		if m.IsRequest() {
			line, _ := sv1.AppendResponse(nil, m.ID, "pong", nil)
			u.send(line)
		}
	case sv1.MethodShowMessage:
		var sm sv1.ShowMessage
		if err := m.UnmarshalParams(&sm); err == nil {
			u.log.Info().Str("message", sm.Text).Msg("pool message")
		}
	default:
		if m.IsRequest() {
			u.send(sv1.AppendErrorResponse(nil, m.ID, sv1.StandardError(20)))
		}
	}
}

func (u *upstreamV1) handleResponse(m *sv1.Message) {
	id, err := strconv.ParseInt(string(m.ID), 10, 64)
	if err != nil {
		return
	}
	u.mu.Lock()
	r := u.pending[id]
	delete(u.pending, id)
	if r != nil {
		u.lat = u.pl.p.clk.Now().Sub(r.sent)
	}
	u.mu.Unlock()
	if r == nil {
		return
	}
	switch r.kind {
	case "configure":
		var cr sv1.ConfigureResult
		if m.Error == nil && json.Unmarshal(m.Result, &cr) == nil && cr.VersionRolling != nil && cr.VersionRolling.OK {
			mask := uint32(0x1fffe000)
			if cr.HasVersionRollingMask {
				mask = cr.VersionRollingMask
			}
			u.mu.Lock()
			u.mask = mask
			u.mu.Unlock()
		}
	case "subscribe":
		var sr sv1.SubscribeResult
		if m.Error != nil || json.Unmarshal(m.Result, &sr) != nil {
			u.log.Error().Str("error", errText(m)).Msg("pool refused subscribe")
			return
		}
		u.mu.Lock()
		u.en1, u.n2, u.subscribe, u.connected = sr.Extranonce1, sr.Extranonce2Size, true, true
		u.upSince = u.pl.p.clk.Now()
		early := u.early
		u.early = nil
		u.mu.Unlock()
		u.log.Info().Int("extranonce1_bytes", len(sr.Extranonce1)).Int("extranonce2_size", sr.Extranonce2Size).Msg("subscribed to pool")
		// Workers already mining on this connection index stay visible at the pool after a
		// reconnect.
		for _, w := range u.pl.p.groupWorkers(u.idx) {
			u.ensureWorker(w)
		}
		for _, em := range early {
			u.handleNotify(em)
		}
	case "authorize":
		ok := m.Error == nil && m.Accepted()
		if r.worker == "" {
			if !ok {
				u.log.Error().Str("user", u.pl.cfg.User).Str("error", errText(m)).Msg("pool refused authorization")
			}
			return
		}
		u.mu.Lock()
		if ok {
			u.workers[r.worker] = authOK
		} else {
			u.workers[r.worker] = authFailed
		}
		u.mu.Unlock()
		if !ok {
			u.pl.fallBack("pool refused the authorize of " + r.worker + ": " + clipReason(errText(m)))
		}
	case "submit":
		v := verdict{known: true, accepted: m.Error == nil && m.Accepted(), latency: u.pl.p.clk.Now().Sub(r.sent)}
		if !v.accepted {
			v.code, v.message = 20, "rejected by pool"
			if m.Error != nil {
				v.code, v.message = m.Error.Code, m.Error.Message
			} else if m.RejectReason != "" {
				v.code, v.message = sv1.ClassifyReason(m.RejectReason), m.RejectReason
			}
		}
		u.pl.answered()
		if !r.belowPool {
			u.pl.rejects.add(!v.accepted)
			if !v.accepted {
				u.pl.logReject(r.miner, r.job, v.message)
			}
		}
		if !v.accepted && r.worker != u.pl.cfg.User && workerRefused(v) {
			// Authorized, yet its shares are refused for the name (ckpool's "Worker
			// mismatch"): nothing more goes to this pool under a worker name.
			u.mu.Lock()
			u.workers[r.worker] = authFailed
			u.mu.Unlock()
			u.pl.fallBack("pool rejected a share under " + r.worker + ": " + clipReason(v.message))
		}
		if r.done != nil {
			r.done(v)
		}
	}
}

// workerRefused says whether a reject is about the name the share went under.
func workerRefused(v verdict) bool {
	return v.code == sv1.CodeUnauthorized || sv1.ClassifyReason(v.message) == sv1.CodeUnauthorized
}

func errText(m *sv1.Message) string {
	if m.Error != nil {
		return m.Error.Error()
	}
	return "result " + string(m.Result)
}

func (u *upstreamV1) handleNotify(m *sv1.Message) {
	var n sv1.Notify
	if err := m.UnmarshalParams(&n); err != nil {
		u.log.Warn().Err(err).Msg("bad notify from pool")
		return
	}
	now := u.pl.p.clk.Now()
	u.mu.Lock()
	if u.diff == 0 {
		// No set_difficulty yet: pools default to 1.
		u.diff, u.target = 1, work.Diff1()
	}
	j := &work.Job{
		ID:              n.JobID,
		PrevHash:        work.PrevHashFromStratum(n.PrevHash),
		Coinb1:          n.Coinb1,
		Coinb2:          n.Coinb2,
		Extranonce1:     append([]byte(nil), u.en1...),
		Extranonce2Size: u.n2,
		Branch:          n.Branch,
		Version:         n.Version,
		NBits:           n.NBits,
		NTime:           n.NTime,
		VersionMask:     u.mask,
		Clean:           n.Clean,
		Target:          u.target,
		Received:        now,
	}
	// A new prevhash is a new block whatever the flag says (as cgminer treats it); the first
	// job of a session replaces the last session's work.
	if u.fresh || u.cur != nil && u.cur.PrevHash != j.PrevHash {
		j.Clean = true
	}
	u.fresh = false
	if err := j.Prepare(); err != nil {
		u.mu.Unlock()
		u.log.Warn().Err(err).Msg("unusable job from pool")
		return
	}
	u.cur, u.last, u.connected = j, now, true
	u.mu.Unlock()
	u.pl.p.onJob(u, u.pl, u.idx, j)
}

func (u *upstreamV1) submit(s *upShare, done func(verdict)) {
	// A name pruned while its worker was starting (pruneWorkers raced its attach) is asked
	// for again; this share goes under the pool user meanwhile.
	u.ensureWorker(s.worker)
	name := u.submitName(s.worker)
	params := &sv1.Submit{
		Worker:      name,
		JobID:       s.jobID,
		Extranonce2: s.extranonce2,
		NTime:       s.ntime,
		Nonce:       s.nonce,
	}
	if s.mask != 0 {
		params.VersionBits, params.HasVersionBits = s.version&s.mask, true
	}
	if !u.request(&pendingReq{kind: "submit", worker: name, miner: s.worker, job: s.jobID, belowPool: s.belowPool, done: done}, params) {
		u.pl.lost(1, "no connection to the pool, or its send queue is full")
		done(verdict{known: false, message: "pool unavailable"})
	}
}

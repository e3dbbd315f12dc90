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
	workers   map[string]workerAuth
	out       chan []byte // the current connection's bounded send queue
	noConfig  bool        // the pool dropped us after mining.configure: retry without it
	subscribe bool        // subscribe answered on this connection
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

type pendingReq struct {
	kind   string
	worker string
	sent   time.Time
	done   func(verdict)
}

const upstreamQueue = 4096

// maxPending bounds requests awaiting the pool's answer on one connection.
const maxPending = 16384

func newUpstreamV1(pl *pool, idx int) *upstreamV1 {
	return &upstreamV1{
		pl:      pl,
		idx:     idx,
		log:     pl.p.log.With().Str("pool", pl.cfg.Name).Int("conn", idx).Logger(),
		pending: map[int64]*pendingReq{},
		workers: map[string]workerAuth{},
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
func (u *upstreamV1) run() { reconnectLoop(u.pl.p, u.log, u.session) }

// afterChan is a channel that fires after d on the proxy's clock.
func afterChan(p *Proxy, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	p.clk.AfterFunc(d, func() { close(ch) })
	return ch
}

var errPoolClosed = errors.New("pool closed the connection")

// session runs one connection: dial, pipelined handshake, then the read loop; the writer runs
// beside it. It returns why the connection ended.
func (u *upstreamV1) session() error {
	p := u.pl.p
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
	conn, err := p.dial(dctx, "tcp", u.pl.ep.Host)
	dcancel()
	if err != nil {
		return err
	}
	if u.pl.ep.TLS {
		host, _, _ := net.SplitHostPort(u.pl.ep.Host)
		tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
		tc.SetDeadline(time.Now().Add(15 * time.Second))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
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
	u.workers = map[string]workerAuth{}
	noConfig := u.noConfig
	u.mu.Unlock()
	u.pl.freshSession()

	defer runWriter(ctx, cancel, conn, out, 8<<10, u.pl.p.cfg.WriteTimeout.D(), u.teardown)()

	// Pipelined handshake, as firmware does it: configure, subscribe, authorize.
	if !noConfig {
		u.request("configure", "", &sv1.Configure{
			Extensions:                []string{"version-rolling"},
			VersionRollingMask:        0x1fffe000,
			HasVersionRollingMask:     true,
			VersionRollingMinBitCount: 2,
			HasMinBitCount:            true,
		}, nil)
	}
	u.request("subscribe", "", &sv1.Subscribe{UserAgent: p.cfg.UserAgent}, nil)
	u.request("authorize", "", &sv1.Authorize{Username: u.pl.cfg.User, Password: u.pl.cfg.Password}, nil)

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
			if !u.subscribe && !u.noConfig {
				// Some pools drop a client that sends mining.configure: try without it.
				u.noConfig = true
			}
			u.mu.Unlock()
			return err
		}
		if err := sv1.DecodeInto(&m, line); err != nil {
			u.log.Warn().Err(err).Msg("malformed line from pool")
			continue
		}
		u.handle(&m)
	}
}

// teardown fails every request still waiting on the lost connection.
func (u *upstreamV1) teardown() {
	u.mu.Lock()
	u.connected = false
	u.out, u.kill = nil, nil
	u.cur = nil // the session's work dies with it
	pend := u.pending
	u.pending = map[int64]*pendingReq{}
	u.mu.Unlock()
	for _, r := range pend {
		if r.done != nil {
			r.done(verdict{known: false, message: "pool connection lost"})
		}
	}
}

// request queues a request; done (may be nil) gets the response.
func (u *upstreamV1) request(kind, worker string, params sv1.Params, done func(verdict)) bool {
	id := u.nextID.Add(1)
	line, err := sv1.AppendRequest(nil, sv1.IntID(id), params)
	if err != nil {
		u.log.Error().Err(err).Str("kind", kind).Msg("encoding request")
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
	u.pending[id] = &pendingReq{kind: kind, worker: worker, sent: u.pl.p.clk.Now(), done: done}
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
		u.pl.rejects.add(!v.accepted)
		if r.done != nil {
			r.done(v)
		}
	}
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

// ensureWorker authorizes <pool user>.<worker> once on this connection (passthrough names).
func (u *upstreamV1) ensureWorker(worker string) {
	if u.pl.p.cfg.WorkerNames != "passthrough" || worker == "" {
		return
	}
	name := u.pl.cfg.User + "." + worker
	u.mu.Lock()
	if _, ok := u.workers[name]; ok || u.out == nil {
		u.mu.Unlock()
		return
	}
	u.workers[name] = authPending
	u.mu.Unlock()
	u.request("authorize", name, &sv1.Authorize{Username: name, Password: u.pl.cfg.Password}, nil)
}

// submitName is the name a share goes upstream under.
func (u *upstreamV1) submitName(worker string) string {
	if u.pl.p.cfg.WorkerNames != "passthrough" || worker == "" {
		return u.pl.cfg.User
	}
	name := u.pl.cfg.User + "." + worker
	u.mu.Lock()
	st := u.workers[name]
	u.mu.Unlock()
	if st == authOK || st == authPending {
		return name
	}
	return u.pl.cfg.User
}

func (u *upstreamV1) submit(s *upShare, done func(verdict)) {
	params := &sv1.Submit{
		Worker:      u.submitName(s.worker),
		JobID:       s.jobID,
		Extranonce2: s.extranonce2,
		NTime:       s.ntime,
		Nonce:       s.nonce,
	}
	if s.mask != 0 {
		params.VersionBits, params.HasVersionBits = s.version&s.mask, true
	}
	if !u.request("submit", "", params, done) {
		done(verdict{known: false, message: "pool unavailable"})
	}
}

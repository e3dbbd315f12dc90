package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// v1JobLines are a proxy job's mining.notify lines, encoded once for every V1 miner.
type v1JobLines struct {
	notify sv1.Notify
	normal []byte // clean_jobs=false
	clean  []byte // clean_jobs=true
}

func (pj *proxyJob) encodeV1() {
	j := pj.job
	pj.v1.notify = sv1.Notify{
		JobID:    pj.localID,
		PrevHash: work.PrevHashToStratum(j.PrevHash),
		Coinb1:   pj.coinb1,
		Coinb2:   pj.coinb2,
		Branch:   j.Branch,
		Version:  j.Version,
		NBits:    j.NBits,
		NTime:    j.NTime,
	}
	pj.v1.normal = sv1.AppendNotify(nil, &pj.v1.notify)
	n := pj.v1.notify
	n.Clean = true
	pj.v1.clean = sv1.AppendNotify(nil, &n)
}

// offer flags.
const (
	offerNormal = 0
	offerClean  = 1 << iota // clean_jobs=true for this miner (new subscriber, resume, new difficulty)
	offerRetire             // and void every older job (new block, pool switch)
)

// maxJobsPerMiner bounds the jobs a miner may still submit for.
const maxJobsPerMiner = 16

// issued is a job as one miner received it: with its id and the difficulty in force then.
type issued struct {
	pj     *proxyJob
	id     string
	diff   float64
	target work.Target
	dups   map[uint64]struct{}
}

// minerSession is one V1 miner connection. The reader goroutine (serveMinerV1) owns parsing,
// validation and vardiff; the writer goroutine owns the socket's write side. They share the
// fields under mu; the outgoing queue sits under outMu.
type minerSession struct {
	p         *Proxy
	id        uint64
	conn      net.Conn
	log       zerolog.Logger
	remote    string
	connected time.Time
	cancel    context.CancelFunc

	mu         sync.Mutex
	worker     string
	agent      string
	subscribed bool
	authorized bool
	hasSlot    bool
	slot       slot
	prefix     []byte
	layout     work.Layout
	mask       uint32
	xnsub      bool
	jobs       map[string]*issued
	order      []string
	vd         vardiff
	sentDiff   float64
	sentTarget work.Target
	lastSent   *proxyJob
	resendSeq  int
	lastShare  time.Time
	poolName   string

	paused atomic.Bool

	outMu      sync.Mutex
	outq       [][]byte
	offerJob   *proxyJob
	offerFlags int
	closeAfter bool
	wake       chan struct{}

	// reader-only
	msg      sv1.Message
	sub      sv1.Submit
	hasher   work.Hasher
	en2      []byte
	tokens   float64
	tokensAt time.Time
	strikes  int

	counters Counters
	rate     rateWindow
}

// Errors sent to miners (codes from sv1.md section 6).
var (
	errStale        = sv1.NewError(21, "Job not found (=stale)")
	errDuplicate    = sv1.NewError(22, "Duplicate share")
	errLowDiff      = sv1.NewError(23, "Low difficulty share")
	errUnauthorized = sv1.NewError(24, "Unauthorized worker")
	errNotSubscribe = sv1.NewError(25, "Not subscribed")
	errNotSupported = sv1.NewError(20, "Not supported.")
)

func (p *Proxy) serveMinerV1(c net.Conn) {
	ctx, cancel := context.WithCancel(p.ctx)
	now := p.clk.Now()
	s := &minerSession{
		p:         p,
		id:        p.nextSession.Add(1),
		conn:      c,
		remote:    c.RemoteAddr().String(),
		connected: now,
		cancel:    cancel,
		jobs:      map[string]*issued{},
		wake:      make(chan struct{}, 1),
		vd:        newVardiff(p.cfg.Difficulty, p.cfg.Difficulty.Initial, now),
		tokens:    p.cfg.SubmitRate * 2,
		tokensAt:  now,
	}
	s.rate.bucket = 30 * time.Second
	s.log = p.log.With().Uint64("sess", s.id).Str("remote", s.remote).Logger()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 10 * time.Second, Count: 3})
	}
	p.addSession(s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.writeLoop(ctx)
	}()
	go func() { <-ctx.Done(); c.Close() }()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Msg("miner session crashed; closing it")
		}
		cancel()
		c.Close()
		wg.Wait()
		p.removeSession(s)
		s.log.Debug().Str("worker", s.workerName()).Msg("miner disconnected")
	}()
	s.readLoop(ctx)
}

func (s *minerSession) readLoop(ctx context.Context) {
	p := s.p
	lr := sv1.NewLineReader(s.conn, p.cfg.MaxLine)
	bad := 0
	for {
		s.conn.SetReadDeadline(time.Now().Add(15 * time.Minute))
		line, err := lr.ReadLine()
		if err != nil {
			if errors.Is(err, sv1.ErrLineTooLong) {
				p.drops.oversizedLines.Add(1)
				s.log.Warn().Int("max", p.cfg.MaxLine).Msg("line too long from miner; closing")
				s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(20, "Line too long")))
				return
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				s.log.Debug().Err(err).Msg("read from miner failed")
			}
			return
		}
		if err := sv1.DecodeInto(&s.msg, line); err != nil {
			p.drops.malformed.Add(1)
			bad++
			s.log.Info().Err(err).Msg("malformed message from miner")
			s.send(sv1.AppendErrorResponse(nil, nil, sv1.NewError(-32700, "Parse error: "+err.Error())))
			if bad > 20 {
				s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(20, "Too many malformed messages")))
				return
			}
			continue
		}
		bad = 0
		if err := s.handle(ctx, &s.msg); err != nil {
			s.log.Info().Err(err).Msg("closing miner")
			return
		}
	}
}

var errFlood = errors.New("submit flood")

func (s *minerSession) handle(ctx context.Context, m *sv1.Message) error {
	if m.IsResponse() {
		return nil // a reply to our (rare) requests, or a pong
	}
	switch m.Method {
	case sv1.MethodSubmit:
		return s.handleSubmit(m)
	case sv1.MethodConfigure:
		s.handleConfigure(ctx, m)
	case sv1.MethodSubscribe:
		return s.handleSubscribe(ctx, m)
	case sv1.MethodAuthorize:
		s.handleAuthorize(m)
	case sv1.MethodExtranonceSubscribe:
		s.mu.Lock()
		s.xnsub = true
		s.mu.Unlock()
		s.reply(m.ID, true)
	case sv1.MethodSuggestDifficulty:
		var sd sv1.SuggestDifficulty
		if err := m.UnmarshalParams(&sd); err != nil {
			s.replyErr(m.ID, sv1.NewError(20, "Invalid params"))
			return nil
		}
		if d, err := strconv.ParseFloat(string(sd.Difficulty), 64); err == nil {
			s.mu.Lock()
			s.vd.suggest(d, s.p.clk.Now())
			s.mu.Unlock()
		}
		s.reply(m.ID, true)
		s.resend()
	case sv1.MethodSuggestTarget:
		var st sv1.SuggestTarget
		if err := m.UnmarshalParams(&st); err != nil {
			s.replyErr(m.ID, sv1.NewError(20, "Invalid params"))
			return nil
		}
		if t := work.Target(st.Target); t != (work.Target{}) {
			s.mu.Lock()
			s.vd.suggest(t.Difficulty(), s.p.clk.Now())
			s.mu.Unlock()
		}
		s.reply(m.ID, true)
		s.resend()
	case sv1.MethodMultiVersion:
		s.reply(m.ID, true)
	case sv1.MethodGetTransactions:
		s.replyErr(m.ID, errNotSupported)
	default:
		if m.IsRequest() {
			s.replyErr(m.ID, errNotSupported)
		}
	}
	return nil
}

func (s *minerSession) handleConfigure(ctx context.Context, m *sv1.Message) {
	var c sv1.Configure
	if err := m.UnmarshalParams(&c); err != nil {
		s.replyErr(m.ID, sv1.NewError(20, "Invalid params: "+err.Error()))
		return
	}
	res := sv1.ConfigureResult{}
	no := &sv1.ExtensionResult{}
	if c.Has("version-rolling") {
		// The miner may roll the bits the active pool lets us roll. Until a pool is known we
		// offer the BIP320 general-purpose bits, which every pool we have seen grants.
		poolMask := uint32(0x1fffe000)
		if a := s.p.activePool(); a != nil {
			if u := a.conn(0); u != nil && u.up() {
				poolMask = u.versionMask()
			}
		}
		mask := c.Mask() & poolMask
		s.mu.Lock()
		s.mask = mask
		s.mu.Unlock()
		res.VersionRolling = &sv1.ExtensionResult{OK: mask != 0}
		res.VersionRollingMask, res.HasVersionRollingMask = mask, true
	}
	if c.Has("minimum-difficulty") {
		ok := false
		if d, err := strconv.ParseFloat(string(c.MinimumDifficulty), 64); err == nil && d > 0 {
			s.mu.Lock()
			if d > s.vd.cfg.Min {
				s.vd.cfg.Min = d
				s.vd.suggest(s.vd.diff, s.p.clk.Now())
			}
			s.mu.Unlock()
			ok = true
		}
		res.MinimumDifficulty = &sv1.ExtensionResult{OK: ok}
	}
	if c.Has("subscribe-extranonce") {
		s.mu.Lock()
		s.xnsub = true
		s.mu.Unlock()
		res.SubscribeExtranonce = &sv1.ExtensionResult{OK: true}
	}
	if c.Has("info") {
		res.Info = no
	}
	line, err := sv1.AppendResponse(nil, m.ID, res, nil)
	if err != nil {
		s.replyErr(m.ID, sv1.NewError(20, "Internal error"))
		return
	}
	s.send(line)
}

func (s *minerSession) handleSubscribe(ctx context.Context, m *sv1.Message) error {
	var sub sv1.Subscribe
	if err := m.UnmarshalParams(&sub); err != nil {
		s.replyErr(m.ID, sv1.NewError(20, "Invalid params: "+err.Error()))
		return nil
	}
	s.mu.Lock()
	if s.subscribed {
		// A second subscribe on the same connection: answer with the same assignment.
		res := sv1.NewSubscribeResult(s.subID(), s.prefix, s.layout.MinerSize)
		s.mu.Unlock()
		line, _ := sv1.AppendResponse(nil, m.ID, res, nil)
		s.send(line)
		return nil
	}
	s.agent = sub.UserAgent
	s.mu.Unlock()
	// Miners may connect before any pool has answered: wait (bounded) for the layout.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	layout, err := s.p.waitLayout(wctx)
	cancel()
	if err != nil {
		s.sendAndClose(sv1.AppendErrorResponse(nil, m.ID, sv1.NewError(20, "No pool available")))
		return errors.New("no pool available for subscribe")
	}
	sl, err := s.p.alloc.get()
	if err != nil {
		s.sendAndClose(sv1.AppendErrorResponse(nil, m.ID, sv1.NewError(20, "Proxy full")))
		return err
	}
	s.mu.Lock()
	s.layout, s.slot, s.hasSlot, s.subscribed = layout, sl, true, true
	s.prefix = layout.Prefix(uint64(sl.prefix))
	res := sv1.NewSubscribeResult(s.subID(), s.prefix, layout.MinerSize)
	auth := s.authorized
	s.mu.Unlock()
	line, err := sv1.AppendResponse(nil, m.ID, res, nil)
	if err != nil {
		return err
	}
	s.send(line)
	s.log = s.log.With().Str("extranonce1", hex.EncodeToString(s.prefix)).Int("conn", sl.conn).Logger()
	if auth {
		s.start()
	}
	return nil
}

func (s *minerSession) subID() string { return strconv.FormatUint(s.id, 16) }

func (s *minerSession) handleAuthorize(m *sv1.Message) {
	var a sv1.Authorize
	if err := m.UnmarshalParams(&a); err != nil || a.Username == "" {
		s.replyErr(m.ID, sv1.NewError(20, "Invalid params"))
		return
	}
	s.mu.Lock()
	first := !s.authorized
	s.authorized = true
	s.worker = a.Username
	sub := s.subscribed
	s.mu.Unlock()
	s.reply(m.ID, true)
	if first {
		s.log = s.log.With().Str("worker", a.Username).Logger()
		s.log.Info().Str("agent", s.agent).Msg("miner authorized")
		s.paused.Store(s.p.isPaused(a.Username))
		if sub {
			s.start()
		}
	}
}

// start puts a subscribed, authorized miner to work.
func (s *minerSession) start() {
	for _, pl := range s.p.pools {
		if u := pl.conn(s.slot.conn); u != nil {
			u.ensureWorker(s.workerName())
		}
	}
	s.p.attach(s)
}

func (s *minerSession) workerName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.worker
}

func (s *minerSession) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSent != nil
}

// allowSubmit is a token bucket: SubmitRate per second, bursts of twice that.
func (s *minerSession) allowSubmit(now time.Time) bool {
	rate := s.p.cfg.SubmitRate
	s.tokens += now.Sub(s.tokensAt).Seconds() * rate
	s.tokensAt = now
	if s.tokens > 2*rate {
		s.tokens = 2 * rate
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

func (s *minerSession) handleSubmit(m *sv1.Message) error {
	p := s.p
	now := p.clk.Now()
	if !s.allowSubmit(now) {
		p.drops.floodedMiner.Add(1)
		s.strikes++
		s.replyErr(m.ID, sv1.NewError(20, "Too many submits"))
		if s.strikes > int(p.cfg.SubmitRate)*10 {
			return errFlood
		}
		return nil
	}
	sub := &s.sub
	if err := m.UnmarshalParams(sub); err != nil {
		s.reject(m.ID, nil, ResultInvalid, sv1.NewError(20, "Invalid params: "+err.Error()), nil)
		return nil
	}
	s.mu.Lock()
	subscribed, authorized := s.subscribed, s.authorized
	is := s.jobs[sub.JobID]
	mask := s.mask
	worker := s.worker
	s.mu.Unlock()
	switch {
	case !subscribed:
		s.replyErr(m.ID, errNotSubscribe)
		return nil
	case !authorized:
		s.replyErr(m.ID, errUnauthorized)
		return nil
	case is == nil:
		s.reject(m.ID, nil, ResultStale, errStale, nil)
		return nil
	}
	j := is.pj.job
	pl := poolOf(is.pj)
	if len(sub.Extranonce2) != s.layout.MinerSize {
		s.reject(m.ID, is, ResultInvalid, sv1.NewError(20, fmt.Sprintf("Invalid extranonce2 size: want %d bytes", s.layout.MinerSize)), pl)
		return nil
	}
	if err := j.CheckNTime(sub.NTime); err != nil {
		s.reject(m.ID, is, ResultInvalid, sv1.NewError(20, "Ntime out of range"), pl)
		return nil
	}
	version := j.Version
	if sub.HasVersionBits {
		var err error
		version, err = work.MergeVersion(j.Version, sub.VersionBits, mask&j.VersionMask)
		if err != nil {
			s.reject(m.ID, is, ResultInvalid, sv1.NewError(20, "Invalid version bits"), pl)
			return nil
		}
	}
	var err error
	s.en2, err = s.layout.UpstreamExtranonce2(s.en2[:0], s.prefix, sub.Extranonce2, j.Extranonce2Size)
	if err != nil {
		s.reject(m.ID, is, ResultInvalid, sv1.NewError(20, "Invalid extranonce2"), pl)
		return nil
	}
	hash, _, err := s.hasher.Hash(j, &work.Header{Extranonce2: s.en2, NTime: sub.NTime, Nonce: sub.Nonce, Version: version})
	if err != nil {
		s.reject(m.ID, is, ResultInvalid, sv1.NewError(20, err.Error()), pl)
		return nil
	}
	key := binary.LittleEndian.Uint64(hash[:8])
	s.mu.Lock()
	_, dup := is.dups[key]
	if !dup {
		is.dups[key] = struct{}{}
	}
	s.mu.Unlock()
	if dup {
		s.reject(m.ID, is, ResultDuplicate, errDuplicate, pl)
		return nil
	}
	if !is.target.Met(&hash) {
		s.reject(m.ID, is, ResultLowDiff, errLowDiff, pl)
		return nil
	}
	// A valid share under the miner's target.
	shareDiff := work.HashDifficultyFast(&hash)
	ev := ShareEvent{Time: now, Worker: worker, Pool: pl.cfg.Name, JobID: j.ID, Difficulty: is.diff, ShareDiff: shareDiff, Result: ResultAccepted, Hash: hash}
	p.record(s, pl, ev)
	s.rate.add(now, is.diff)
	p.rate.add(now, is.diff)
	pl.rate.add(now, is.diff)
	s.mu.Lock()
	s.lastShare = now
	_, changed := s.vd.share(now)
	s.mu.Unlock()
	if changed {
		s.resend()
	}
	block := j.NetworkTarget().Met(&hash)
	if block {
		ev.Result = ResultBlock
		p.record(s, pl, ev)
		s.log.Warn().Str("hash", hex.EncodeToString(reverse(hash[:]))).Float64("share_difficulty", shareDiff).
			Str("pool", pl.cfg.Name).Msg("BLOCK CANDIDATE found; forwarding to the pool now")
	}
	if !block && !j.Target.Met(&hash) {
		s.reply(m.ID, true)
		return nil
	}
	if s.paused.Load() || !is.pj.up.up() {
		ev.Result, ev.Reason = ResultNotForwarded, "paused or pool down"
		p.record(s, pl, ev)
		s.reply(m.ID, true)
		return nil
	}
	ev.Result = ResultForwarded
	p.record(s, pl, ev)
	id := append(json.RawMessage(nil), m.ID...)
	var answered atomic.Bool
	timer := p.clk.AfterFunc(p.cfg.VerdictWait.Duration, func() {
		// The pool is slow: answer from local validation and record the verdict when it comes.
		if answered.CompareAndSwap(false, true) {
			s.reply(id, true)
		}
	})
	share := &upShare{
		worker:      worker,
		jobID:       j.ID,
		extranonce2: append([]byte(nil), s.en2...),
		ntime:       sub.NTime,
		nonce:       sub.Nonce,
		version:     version,
		jobVersion:  j.Version,
	}
	if sub.HasVersionBits || version != j.Version {
		share.mask = j.VersionMask
	}
	is.pj.up.submit(share, func(v verdict) {
		timer.Stop()
		e := ev
		e.Time = p.clk.Now()
		switch {
		case !v.known:
			e.Result, e.Reason = ResultPoolUnknown, v.message
		case v.accepted:
			e.Result = ResultPoolAccepted
		default:
			e.Result, e.Reason = ResultPoolRejected, v.message
		}
		p.record(s, pl, e)
		if !answered.CompareAndSwap(false, true) {
			return
		}
		if v.known && !v.accepted {
			code := v.code
			if code < 20 || code > 25 {
				code = 20
			}
			s.replyErr(id, sv1.NewError(code, "Rejected by pool: "+v.message))
			return
		}
		s.reply(id, true)
	})
	return nil
}

func poolOf(pj *proxyJob) *pool {
	if u, ok := pj.up.(*upstreamV1); ok {
		return u.pl
	}
	if h, ok := pj.up.(interface{ owner() *pool }); ok {
		return h.owner()
	}
	return nil
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

func (s *minerSession) reject(id json.RawMessage, is *issued, r Result, e *sv1.Error, pl *pool) {
	ev := ShareEvent{Time: s.p.clk.Now(), Worker: s.workerName(), Result: r, Reason: e.Message}
	if is != nil {
		ev.JobID, ev.Difficulty = is.pj.job.ID, is.diff
	}
	if pl != nil {
		ev.Pool = pl.cfg.Name
	}
	s.p.record(s, pl, ev)
	s.replyErr(id, e)
}

func (s *minerSession) reply(id json.RawMessage, ok bool) {
	s.send(sv1.AppendBoolResponse(nil, id, ok))
}

func (s *minerSession) replyErr(id json.RawMessage, e *sv1.Error) {
	s.send(sv1.AppendErrorResponse(nil, id, e))
}

// send queues a line. A miner whose queue is full is not reading: it is disconnected (the
// named drop policy for replies), so it cannot hold memory or delay anyone.
func (s *minerSession) send(line []byte) {
	s.outMu.Lock()
	if len(s.outq) >= s.p.cfg.SendQueue {
		s.outMu.Unlock()
		s.p.drops.slowMiner.Add(1)
		s.log.Warn().Msg("miner is not reading its replies; disconnecting")
		s.cancel()
		return
	}
	s.outq = append(s.outq, line)
	s.outMu.Unlock()
	s.signal()
}

func (s *minerSession) sendAndClose(line []byte) {
	s.outMu.Lock()
	s.outq = append(s.outq, line)
	s.closeAfter = true
	s.outMu.Unlock()
	s.signal()
}

func (s *minerSession) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// offer hands the miner new work. Latest wins: a job not yet written is replaced, with its
// flags kept, because a stale notify is worse than none.
func (s *minerSession) offer(pj *proxyJob, flags int) {
	if s.paused.Load() {
		return
	}
	s.outMu.Lock()
	s.offerJob = pj
	s.offerFlags |= flags
	s.outMu.Unlock()
	s.signal()
}

// resend re-offers the current work with clean_jobs=true so a new difficulty applies now.
func (s *minerSession) resend() {
	s.mu.Lock()
	cur := s.lastSent
	s.mu.Unlock()
	if cur != nil {
		s.offer(cur, offerClean)
	}
}

func (s *minerSession) setPaused(paused bool) {
	was := s.paused.Swap(paused)
	if was && !paused {
		s.mu.Lock()
		ok := s.hasSlot && s.authorized
		s.mu.Unlock()
		if ok {
			g := s.p.groupFor(s.slot.conn)
			g.mu.Lock()
			cur := g.cur
			g.mu.Unlock()
			if cur != nil {
				s.offer(cur, offerClean)
			}
		}
	}
	if paused {
		s.outMu.Lock()
		s.offerJob, s.offerFlags = nil, 0
		s.outMu.Unlock()
	}
}

// tick runs once a second: a silent miner's difficulty comes down.
func (s *minerSession) tick(now time.Time) {
	s.mu.Lock()
	_, changed := s.vd.tick(now)
	s.mu.Unlock()
	if changed {
		s.resend()
	}
}

func (s *minerSession) writeLoop(ctx context.Context) {
	bw := bufio.NewWriterSize(s.conn, 4<<10)
	var spare [][]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.outMu.Lock()
		q := s.outq
		s.outq = spare[:0]
		pj, flags := s.offerJob, s.offerFlags
		s.offerJob, s.offerFlags = nil, 0
		closeAfter := s.closeAfter
		s.outMu.Unlock()

		s.conn.SetWriteDeadline(time.Now().Add(s.p.cfg.WriteTimeout.Duration))
		for _, b := range q {
			bw.Write(b)
		}
		if pj != nil && !closeAfter && !s.paused.Load() {
			s.writeJob(bw, pj, flags)
		}
		err := bw.Flush()
		for i := range q {
			q[i] = nil
		}
		spare = q
		if err != nil {
			if ctx.Err() == nil {
				s.log.Info().Err(err).Msg("write to miner failed; disconnecting")
			}
			s.cancel()
			return
		}
		if closeAfter {
			s.cancel()
			return
		}
	}
}

// writeJob writes set_difficulty (when it changed) and the notify, and records the job as
// issued with the difficulty in force, so shares for it are judged by that difficulty.
func (s *minerSession) writeJob(bw *bufio.Writer, pj *proxyJob, flags int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.vd.diff
	if pj.poolDif > 0 && d > pj.poolDif {
		d = pj.poolDif // never harder than the pool: every share it could use reaches it
	}
	if d != s.sentDiff {
		t, err := work.TargetFromDifficulty(d)
		if err != nil {
			return
		}
		s.sentDiff, s.sentTarget = d, t
		line, err := sv1.AppendNotification(nil, &sv1.SetDifficulty{Difficulty: json.Number(strconv.FormatFloat(d, 'f', -1, 64))})
		if err == nil {
			bw.Write(line)
		}
	}
	if flags&offerRetire != 0 || pj.retire && pj != s.lastSent {
		clear(s.jobs)
		s.order = s.order[:0]
	}
	id := pj.localID
	line := pj.v1.normal
	clean := flags&(offerClean|offerRetire) != 0 || pj.retire
	if clean {
		line = pj.v1.clean
	}
	if pj == s.lastSent {
		// The same work again (new difficulty, resume): it needs an id the miner has not
		// seen, since firmware ignores a repeated job id.
		s.resendSeq++
		id = pj.localID + "." + strconv.Itoa(s.resendSeq)
		n := pj.v1.notify
		n.JobID, n.Clean = id, clean
		line = sv1.AppendNotify(nil, &n)
	}
	s.jobs[id] = &issued{pj: pj, id: id, diff: d, target: s.sentTarget, dups: map[uint64]struct{}{}}
	s.order = append(s.order, id)
	if len(s.order) > maxJobsPerMiner {
		delete(s.jobs, s.order[0])
		s.order = append(s.order[:0], s.order[1:]...)
	}
	s.lastSent = pj
	if pl := poolOf(pj); pl != nil {
		s.poolName = pl.cfg.Name
	}
	bw.Write(line)
}

func (s *minerSession) stats(now time.Time) WorkerStats {
	s.mu.Lock()
	st := WorkerStats{
		ID:          s.id,
		Worker:      s.worker,
		Remote:      s.remote,
		UserAgent:   s.agent,
		Protocol:    "sv1",
		Pool:        s.poolName,
		Difficulty:  s.sentDiff,
		Extranonce1: hex.EncodeToString(s.prefix),
		Connected:   s.connected,
		LastShare:   s.lastShare,
	}
	running := s.lastSent != nil
	s.mu.Unlock()
	switch {
	case s.paused.Load():
		st.State = "paused"
	case running:
		st.State = "running"
	default:
		st.State = "connecting"
	}
	st.Hashrate = s.rate.hashrate(now)
	st.Shares = s.counters.Map()
	return st
}

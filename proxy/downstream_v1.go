package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
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
		NTime:    pj.ntime,
	}
	pj.v1.normal = sv1.AppendNotify(nil, &pj.v1.notify)
	n := pj.v1.notify
	n.Clean = true
	pj.v1.clean = sv1.AppendNotify(nil, &n)
}

// v1Conn is one Stratum V1 miner connection, carrying one channel. Its only goroutine is the
// reader, and only while the miner has bytes for it or is setting up: a ready plain-TCP miner
// with nothing to read is parked without one (park_linux.go). Whoever produces bytes for the
// miner writes them (writer_v1.go), and a flusher goroutine exists only while the socket
// refuses bytes.
type v1Conn struct {
	p    *Proxy
	conn net.Conn
	ch   *channel
	// raw is the socket for writes that never wait (plain TCP); nil for TLS.
	raw syscall.RawConn
	// setup is the setup_timeout timer, dropped once the miner is subscribed and authorized;
	// stopKill undoes the close registered for the proxy's shutdown.
	setup    clock.Timer
	stopKill func() bool
	// dead: the connection is closed (kill). stopWait ends a subscribe waiting for a pool.
	dead     atomic.Bool
	stopWait atomic.Pointer[context.CancelFunc]
	// worker is the authorized name, for log lines (v1LogFields).
	worker atomic.Pointer[string]

	subscribed bool            // reader-only
	lr         *sv1.LineReader // reader-only; kept here, not on a stack, across parking
	parkTok    uint64          // the parker's token for this connection (under its lock)
	parkArmed  bool            // registered in the parker's epoll set (under its lock)
	readBy     int64           // reader-only: the read deadline in force, Unix ns
	head       []byte          // the first bytes, read to tell the protocol; the line reader gets them first
	tokens     float64
	tokensAt   time.Time
	strikes    int
	bad        int32 // malformed lines in a row
	malformed  int32 // malformed lines on this connection
	// nameLogged: a refused worker name was logged; later ones on this connection are only
	// answered, so one miner retrying cannot flood the log.
	nameLogged bool
	// bw: the reader runs this turn on a burst worker (burst.go), which it must leave before
	// any wait; nil for a reader of its own. Reader-only.
	bw *burstWorker

	// The output (writer_v1.go), all under outMu.
	outMu      sync.Mutex
	outq       [][]byte
	writing    bool // a flusher goroutine owns the socket's write side
	holding    bool // the reader is answering the lines of one read: replies wait for its next read
	closeAfter bool // the last line is queued: nothing after it is written
	outClosed  bool // the connection is ending: nothing more is written
	finalDone  bool
	flushed    chan struct{} // made with closeAfter, closed once the last line is written
	// slow: the send queue overflowed and the miner is being disconnected; slowRepeats counts
	// the replies dropped after that, reported once when the connection ends.
	slow        bool
	slowRepeats int
	wg          sync.WaitGroup // the flusher, while one runs
}

// v1LogFields puts a V1 connection's remote address, channel and worker on each of its log
// lines as the line is written: the connection keeps no logger context of its own.
type v1LogFields struct{ s *v1Conn }

func (h v1LogFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("remote", h.s.ch.remote).Uint64("chan", h.s.ch.id)
	if w := h.s.worker.Load(); w != nil {
		e.Str("worker", *w)
	}
}

// serveMinerV1 runs one V1 connection on its reader goroutine until the connection ends or,
// once the miner is ready and idle, is parked (park_linux.go). It is kept shallow, as is
// readLoop: a reader that waits in its read (TLS, before setup ends, off Linux) does so with
// little of its stack used, so the garbage collector can shrink it to 4 KiB.
func (p *Proxy) serveMinerV1(nc net.Conn) {
	s := p.openMinerV1(nc)
	if s == nil {
		return
	}
	s.run()
}

// resume is a parked connection's reader of its own, started by whoever took it from the
// parker for a kill, the idle sweep or the parker's stop (a readable socket's burst runs on
// a burst worker instead); the proxy's WaitGroup counts it from the take.
func (s *v1Conn) resume() {
	defer s.p.wg.Done()
	s.bw = nil // the last burst worker to run s is not this goroutine
	s.run()
}

// run reads until the connection ends, then cleans up, or until it is parked or yields its
// burst worker: then this reader leaves without cleaning up (parked: another reader may
// already own s).
func (s *v1Conn) run() (out readOutcome) {
	defer s.end(&out)
	return s.readLoop()
}

// openMinerV1 sets a connection up: its channel, the close on shutdown and setup_timeout,
// the TLS handshake or protocol sniff and the socket options. nil: it was closed.
func (p *Proxy) openMinerV1(nc net.Conn) *v1Conn {
	s := &v1Conn{p: p, conn: nc, raw: rawConnOf(nc), tokens: 2 * p.cfg.SubmitRate, tokensAt: p.clk.Now()}
	s.ch = p.newChannelBare("sv1", nc.RemoteAddr().String(), s.wakeJob)
	s.ch.log = p.log.Hook(v1LogFields{s})
	s.stopKill = context.AfterFunc(p.ctx, s.kill)
	s.setup = p.armSetup(p.ctx, s.kill, nc.RemoteAddr(), s.ch.log, s.readyOrGone)
	head, ok := p.openV1(p.ctx, nc, s.ch.log)
	if !ok {
		s.setup.Stop()
		s.stopKill()
		s.kill()
		return nil
	}
	s.head = head
	if tc := tcpConn(nc); tc != nil {
		tc.SetNoDelay(true)
		tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 10 * time.Second, Count: 3})
		tc.SetWriteBuffer(minerSendBuffer)
	}
	s.ch.bye = s.sayReconnect
	p.addChannel(s.ch)
	return s
}

// end closes a connection whose reader returned (or crashed), unless it was parked or
// yielded: the last line, if one is queued, is written first and the close is graceful so
// the miner reads it instead of a reset.
func (s *v1Conn) end(out *readOutcome) {
	if r := recover(); r != nil {
		s.ch.log.Error().Interface("panic", r).Msg("miner session crashed; closing it")
	} else if *out != readEnded {
		return
	}
	s.outMu.Lock()
	closing, flushed := s.closeAfter, s.flushed
	s.outMu.Unlock()
	if closing {
		s.leaveBurst() // the wait and the linger are this miner's alone
		t := time.NewTimer(s.p.cfg.WriteTimeout.D())
		select {
		case <-flushed:
			lingerClose(s.conn)
		case <-t.C:
		}
		t.Stop()
	}
	s.kill()
	s.conn.Close() // here, on the reader's own time: the close is done before the channel goes
	s.closeOutput()
	s.stopKill()
	if s.setup != nil {
		s.setup.Stop()
	}
	s.p.removeChannel(s.ch)
	if s.malformed > 1 {
		s.ch.log.Info().Int("malformed", int(s.malformed)).Msg("miner gone; malformed messages after the first were answered, not logged")
	}
	s.outMu.Lock()
	dropped := s.slowRepeats
	s.outMu.Unlock()
	if dropped > 0 {
		s.ch.log.Info().Int("dropped_replies", dropped).Msg("slow miner gone; replies dropped after its send queue filled")
	}
	s.ch.log.Debug().Msg("miner disconnected")
}

// minerSendBuffer is a V1 miner socket's send buffer (SO_SNDBUF; the kernel doubles it). A
// miner reads a few KB a minute, a new block is one notify; left to autotuning a miner that
// stops reading could park megabytes in the kernel before a write is refused, and the slow
// miner rule (send_queue lines waiting on a refusing socket) would not see it for as long.
const minerSendBuffer = 16 << 10

// kill closes the connection, which ends its reader and any write; it is idempotent. The
// close runs on its own goroutine, never on the caller's time (a fan-out worker, a pool
// verdict): it waits for the reader to leave its read, and a TLS close may write a
// close_notify alert to a peer that does not read.
//
// A parked connection has no reader for the close to end: kill takes it from the parker and
// starts one, which finds the connection closed and runs the cleanup.
func (s *v1Conn) kill() {
	if !s.dead.CompareAndSwap(false, true) {
		return
	}
	go s.conn.Close()
	if f := s.stopWait.Load(); f != nil {
		(*f)()
	}
	if s.p.park.take(s) {
		go s.resume()
	}
}

// readyOrGone is setup_timeout's test: nothing to do for a miner that is mining or gone.
func (s *v1Conn) readyOrGone() bool { return s.dead.Load() || s.ready() }

// v1Input is what the line reader reads: the sniffed head, then the connection. The line
// reader reads only once it has handled every complete line it holds, so the replies to a
// burst of requests are held until then and written together (writer_v1.go).
type v1Input v1Conn

func (in *v1Input) Read(b []byte) (int, error) {
	s := (*v1Conn)(in)
	s.releaseReplies()
	var n int
	var err error
	if len(s.head) > 0 {
		n = copy(b, s.head)
		if s.head = s.head[n:]; len(s.head) == 0 {
			s.head = nil
		}
	} else {
		n, err = s.readRest(b)
	}
	s.holdReplies()
	return n, err
}

// readRest reads the rest of a line the line reader holds part of. On a burst worker it
// reads only what is there: when the rest has not come, the goroutine leaves the pool to wait
// for it, so a miner trickling a line holds no shared worker. So it does when the turn has
// read burstTurnBytes before its burstTurnLines lines (empty lines never end a turn).
func (s *v1Conn) readRest(b []byte) (int, error) {
	if w := s.bw; w != nil {
		if w.read < burstTurnBytes(s.p.cfg.MaxLine) {
			if n, ok, err := s.readNow(b); ok {
				w.read += n
				return n, err
			}
		}
		s.leaveBurst()
	}
	return s.conn.Read(b)
}

// readLoop reads and handles lines until the connection ends, is parked (the caller must
// leave s alone, another reader may already run it) or, on a burst worker, has had its turn's
// burstTurnLines lines (yielded: its replies so far are written). A miner is parked once it is
// ready (setup done) and its socket has nothing to read.
func (s *v1Conn) readLoop() readOutcome {
	if s.lr == nil {
		s.lr = sv1.NewLineReader((*v1Input)(s), s.p.cfg.MaxLine)
	}
	lr := s.lr
	for lines := 0; ; lines++ {
		if s.bw != nil && s.bw.step(lines) {
			s.releaseReplies()
			return readYielded
		}
		s.refreshReadDeadline(time.Now())
		if s.raw != nil && lr.Buffered() == 0 && len(s.head) == 0 {
			err := s.awaitOrPark(lr, s.setup == nil)
			if err == errParked {
				return readParked
			}
			if err != nil {
				s.readFailed(err)
				return readEnded
			}
		}
		line, err := lr.ReadLine()
		if err != nil {
			s.readFailed(err)
			return readEnded
		}
		if !s.line(line) {
			return readEnded
		}
	}
}

// idleReadTimeout is how long a miner may send nothing before its connection is dropped.
// The deadline is moved at most once per readDeadlineSlack: setting it per line cost a
// timer update per share.
const (
	idleReadTimeout   = 15 * time.Minute
	readDeadlineSlack = time.Minute
)

// refreshReadDeadline keeps the read deadline between idleReadTimeout-readDeadlineSlack
// and idleReadTimeout ahead of now.
func (s *v1Conn) refreshReadDeadline(now time.Time) {
	if ns := now.UnixNano(); ns+int64(idleReadTimeout-readDeadlineSlack) > s.readBy {
		s.readBy = ns + int64(idleReadTimeout)
		s.conn.SetReadDeadline(now.Add(idleReadTimeout))
	}
}

// readFailed ends the reader: an oversized line is answered before the close.
func (s *v1Conn) readFailed(err error) {
	p := s.p
	if errors.Is(err, sv1.ErrLineTooLong) {
		p.drops.oversizedLines.Add(1)
		s.ch.log.Warn().Int("max", p.cfg.MaxLine).Msg("line too long from miner; closing")
		s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "Line too long")))
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !s.dead.Load() {
		s.ch.log.Debug().Err(err).Msg("read from miner failed")
	}
}

// line handles one line from the miner; false ends the connection. A malformed line is
// answered with a parse error; only the connection's first is logged and the total when it
// ends (bad counts only a run, so a miner mixing good lines with bad ones would otherwise
// log without end).
func (s *v1Conn) line(line []byte) bool {
	p := s.p
	sc := v1Scratches.Get().(*v1Scratch)
	defer v1Scratches.Put(sc)
	if err := sv1.DecodeInto(&sc.msg, line); err != nil {
		p.drops.malformed.Add(1)
		s.bad++
		if s.malformed++; s.malformed == 1 {
			s.ch.log.Info().Err(err).Msg("malformed message from miner; later ones on this connection are counted, not logged")
		}
		s.send(sv1.AppendErrorResponse(nil, nil, sv1.NewError(-32700, "Parse error: "+err.Error())))
		if s.bad > 20 {
			s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "Too many malformed messages")))
			return false
		}
		return true
	}
	s.bad = 0
	if err := s.handle(&sc.msg, &sc.sub); err != nil {
		s.ch.log.Info().Err(err).Msg("closing miner")
		return false
	}
	if s.setup != nil && s.subscribed && s.ready() {
		s.setup.Stop()
		s.setup = nil
	}
	return true
}

// v1Scratch is what decoding one line needs, shared by the connections instead of held by
// each: a decoded message keeps a copy of its line.
type v1Scratch struct {
	msg sv1.Message
	sub sv1.Submit
}

var v1Scratches = sync.Pool{New: func() any { return new(v1Scratch) }}

var errFlood = errors.New("submit flood")

var errNotSupported = sv1.NewError(codeOther, "Not supported.")

func (s *v1Conn) handle(m *sv1.Message, sub *sv1.Submit) error {
	if m.IsResponse() {
		return nil // a reply to our (rare) requests, or a pong
	}
	c := s.ch
	switch m.Method {
	case sv1.MethodSubmit:
		return s.handleSubmit(m, sub)
	case sv1.MethodConfigure:
		s.handleConfigure(m)
	case sv1.MethodSubscribe:
		return s.handleSubscribe(m)
	case sv1.MethodAuthorize:
		s.handleAuthorize(m)
	case sv1.MethodExtranonceSubscribe:
		s.reply(m.ID, true)
	case sv1.MethodSuggestDifficulty:
		var sd sv1.SuggestDifficulty
		if err := m.UnmarshalParams(&sd); err != nil {
			s.replyErr(m.ID, sv1.NewError(codeOther, "Invalid params"))
			return nil
		}
		if d, err := strconv.ParseFloat(string(sd.Difficulty), 64); err == nil {
			c.mu.Lock()
			c.vd.suggest(d, s.p.clk.Now())
			c.mu.Unlock()
		}
		s.reply(m.ID, true)
		c.resend()
	case sv1.MethodSuggestTarget:
		var st sv1.SuggestTarget
		if err := m.UnmarshalParams(&st); err != nil {
			s.replyErr(m.ID, sv1.NewError(codeOther, "Invalid params"))
			return nil
		}
		if t := work.Target(st.Target); t != (work.Target{}) {
			c.mu.Lock()
			c.vd.suggest(t.Difficulty(), s.p.clk.Now())
			c.mu.Unlock()
		}
		s.reply(m.ID, true)
		c.resend()
	case sv1.MethodMultiVersion:
		s.reply(m.ID, true)
	default:
		if m.IsRequest() {
			s.replyErr(m.ID, errNotSupported)
		}
	}
	return nil
}

func (s *v1Conn) handleConfigure(m *sv1.Message) {
	var cf sv1.Configure
	if err := m.UnmarshalParams(&cf); err != nil {
		s.replyErr(m.ID, sv1.NewError(codeOther, "Invalid params: "+err.Error()))
		return
	}
	c := s.ch
	res := sv1.ConfigureResult{}
	if cf.Has("version-rolling") {
		// The miner may roll the bits the pool lets us roll. Until a pool is known we offer
		// the BIP320 general-purpose bits, which every pool we have seen grants.
		mask := cf.Mask() & s.p.poolVersionMask()
		c.mu.Lock()
		c.mask, c.askedMask, c.rollingV1 = mask, cf.Mask(), true
		c.mu.Unlock()
		res.VersionRolling = &sv1.ExtensionResult{OK: mask != 0}
		res.VersionRollingMask, res.HasVersionRollingMask = mask, true
	}
	if cf.Has("minimum-difficulty") {
		ok := false
		if d, err := strconv.ParseFloat(string(cf.MinimumDifficulty), 64); err == nil && d > 0 {
			c.mu.Lock()
			if d > c.vd.cfg.Min {
				c.vd.cfg.Min = d
				c.vd.suggest(c.vd.diff, s.p.clk.Now())
			}
			c.mu.Unlock()
			ok = true
		}
		res.MinimumDifficulty = &sv1.ExtensionResult{OK: ok}
	}
	if cf.Has("subscribe-extranonce") {
		res.SubscribeExtranonce = &sv1.ExtensionResult{OK: true}
	}
	if cf.Has("info") {
		res.Info = &sv1.ExtensionResult{}
	}
	line, err := sv1.AppendResponse(nil, m.ID, res, nil)
	if err != nil {
		s.replyErr(m.ID, sv1.NewError(codeOther, "Internal error"))
		return
	}
	s.send(line)
}

func (s *v1Conn) handleSubscribe(m *sv1.Message) error {
	var sub sv1.Subscribe
	if err := m.UnmarshalParams(&sub); err != nil {
		s.replyErr(m.ID, sv1.NewError(codeOther, "Invalid params: "+err.Error()))
		return nil
	}
	c := s.ch
	if s.subscribed {
		// A second subscribe on the same connection: answer with the same assignment.
		c.mu.Lock()
		res := sv1.NewSubscribeResult(s.subID(), c.prefix, c.layout.MinerSize)
		c.mu.Unlock()
		line, _ := sv1.AppendResponse(nil, m.ID, res, nil)
		s.send(line)
		return nil
	}
	c.mu.Lock()
	c.agent = sub.UserAgent
	c.mu.Unlock()
	layout, err := s.layout()
	if err != nil {
		s.sendAndClose(sv1.AppendErrorResponse(nil, m.ID, sv1.NewError(codeOther, "No pool available")))
		return errors.New("no pool available for subscribe")
	}
	sl, err := s.p.alloc.get()
	if err != nil {
		s.sendAndClose(sv1.AppendErrorResponse(nil, m.ID, sv1.NewError(codeOther, "Proxy full")))
		return err
	}
	c.assign(layout, sl)
	s.subscribed = true
	c.mu.Lock()
	res := sv1.NewSubscribeResult(s.subID(), c.prefix, layout.MinerSize)
	auth := c.authorized
	c.mu.Unlock()
	line, err := sv1.AppendResponse(nil, m.ID, res, nil)
	if err != nil {
		return err
	}
	s.send(line)
	if auth {
		c.start()
	}
	return nil
}

// layout is the miners' extranonce layout. Miners may connect before any pool has answered:
// then it waits (bounded, and no longer than the connection lives), with the replies already
// due written first.
func (s *v1Conn) layout() (work.Layout, error) {
	if l := s.p.fixedLayout.Load(); l != nil {
		return *l, nil
	}
	s.releaseReplies()
	s.leaveBurst()
	wctx, cancel := context.WithTimeout(s.p.ctx, 30*time.Second)
	defer cancel()
	s.stopWait.Store(&cancel)
	defer s.stopWait.Store(nil)
	if s.dead.Load() {
		cancel()
	}
	return s.p.waitLayout(wctx)
}

func (s *v1Conn) subID() string { return strconv.FormatUint(s.ch.id, 16) }

func (s *v1Conn) handleAuthorize(m *sv1.Message) {
	var a sv1.Authorize
	if err := m.UnmarshalParams(&a); err != nil {
		s.replyErr(m.ID, sv1.NewError(codeOther, "Invalid params"))
		return
	}
	if err := checkWorkerName(a.Username); err != nil {
		// Refused before it reaches a pool, a log line or the console.
		if !s.nameLogged {
			s.nameLogged = true
			s.ch.log.Info().Str("name", loggableName(a.Username)).Int("bytes", len(a.Username)).Err(err).Msg("worker name refused")
		}
		line, _ := sv1.AppendResponse(nil, m.ID, false, sv1.NewError(codeUnauthorized, err.Error()))
		s.send(line)
		return
	}
	c := s.ch
	c.mu.Lock()
	first := !c.authorized
	c.authorized = true
	if first {
		c.worker = a.Username
	}
	c.mu.Unlock()
	s.reply(m.ID, true)
	if first {
		name := a.Username
		s.worker.Store(&name)
		s.ch.log.Info().Str("agent", c.agent).Msg("miner authorized")
		s.p.bindWorker(c, a.Username)
		if s.subscribed {
			c.start()
		}
	}
}

// allowSubmit is a token bucket: SubmitRate per second, bursts of twice that.
func (s *v1Conn) allowSubmit(now time.Time) bool {
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

// handleSubmit is kept shallow (the refusals, the params error and replier are calls, not
// inlined): the reader's stack, shrunk to 4 KiB while it waits, then does not have to grow for
// every share after each garbage collection.
func (s *v1Conn) handleSubmit(m *sv1.Message, sub *sv1.Submit) error {
	if refused, err := s.refuseSubmit(m); refused {
		return err
	}
	if err := sub.UnmarshalShare(m.Params); err != nil { // the worker is c.worker's, not the line's
		s.rejectParams(m.ID, err)
		return nil
	}
	s.ch.submit(&shareReq{
		jobID:          sub.JobID,
		x:              sub.Extranonce2,
		ntime:          sub.NTime,
		nonce:          sub.Nonce,
		versionBits:    sub.VersionBits,
		hasVersionBits: sub.HasVersionBits,
	}, s.replier(m.ID))
	return nil
}

// refuseSubmit answers a submit that is not judged: over the submit rate, before subscribe or
// authorize. err ends the connection (a flood).
//
//go:noinline
func (s *v1Conn) refuseSubmit(m *sv1.Message) (refused bool, err error) {
	p := s.p
	if !s.allowSubmit(p.clk.Now()) {
		p.drops.floodedMiner.Add(1)
		s.strikes++
		s.replyErr(m.ID, sv1.NewError(codeOther, "Too many submits"))
		if s.strikes > int(p.cfg.SubmitRate)*10 {
			s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "Submit flood; disconnecting")))
			return true, errFlood
		}
		return true, nil
	}
	if !s.subscribed {
		s.replyErr(m.ID, sv1.NewError(codeNotSubscribed, "Not subscribed"))
		return true, nil
	}
	c := s.ch
	c.mu.Lock()
	authorized := c.authorized
	c.mu.Unlock()
	if !authorized {
		s.replyErr(m.ID, sv1.NewError(codeUnauthorized, "Unauthorized worker"))
		return true, nil
	}
	return false, nil
}

//go:noinline
func (s *v1Conn) rejectParams(id json.RawMessage, err error) {
	s.ch.reject(nil, nil, ResultInvalid, codeOther, "Invalid params: "+err.Error(), s.replier(id))
}

// replier answers a share by its request id; the id is copied because the reply may come
// after the reader has moved on (a pool verdict). An id of up to shortID bytes (every miner
// we know numbers its requests) is copied into the closure itself: one allocation per share
// instead of two.
//
//go:noinline
func (s *v1Conn) replier(id json.RawMessage) replyFunc {
	if len(id) <= shortID {
		short, n := shortIDOf(id)
		return func(code int, msg string) { s.answerShort(short, n, code, msg) }
	}
	id = append(json.RawMessage(nil), id...)
	return func(code int, msg string) { s.answer(id, code, msg) }
}

const shortID = 24

// shortIDOf returns id in an array, which a closure then holds by value.
func shortIDOf(id json.RawMessage) (a [shortID]byte, n int) {
	n = copy(a[:], id)
	return a, n
}

func (s *v1Conn) answerShort(id [shortID]byte, n int, code int, msg string) {
	s.answer(id[:n], code, msg)
}

func (s *v1Conn) answer(id json.RawMessage, code int, msg string) {
	if code == 0 {
		s.reply(id, true)
		return
	}
	s.replyErr(id, sv1.NewError(code, msg))
}

// reply sizes the line for its one allocation: {"id":<id>,"result":false,"error":null}LF.
func (s *v1Conn) reply(id json.RawMessage, ok bool) {
	s.send(sv1.AppendBoolResponse(make([]byte, 0, len(id)+40), id, ok))
}

func (s *v1Conn) replyErr(id json.RawMessage, e *sv1.Error) {
	s.send(sv1.AppendErrorResponse(nil, id, e))
}

// lingerClose half-closes a connection and discards what the peer still sends for a moment,
// so our last words arrive instead of a TCP reset for unread data.
func lingerClose(c net.Conn) {
	if tc := tcpConn(c); tc != nil {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(time.Second))
		io.CopyN(io.Discard, tc, 1<<20)
	}
	c.Close()
}

// appendJob adds set_difficulty (right before the notify, when it changed) and the notify.
// The notify lines are the job's shared encodings: nothing is copied per miner.
func (s *v1Conn) appendJob(bufs [][]byte, pj *proxyJob, flags int) [][]byte {
	is, ok := s.ch.issue(pj, flags)
	if !ok {
		return bufs
	}
	if is.maskChanged {
		// The pool in force grants other version bits than the miner was given (failover
		// to a pool without version rolling, say): tell it before the job.
		if line, err := sv1.AppendNotification(nil, &sv1.SetVersionMask{Mask: is.mask}); err == nil {
			bufs = append(bufs, line)
		}
	}
	if is.diffChanged {
		line, err := sv1.AppendNotification(nil, &sv1.SetDifficulty{Difficulty: sv1.DifficultyNumber(is.diff)})
		if err == nil {
			bufs = append(bufs, line)
		}
	}
	switch {
	case is.reused:
		n := pj.v1.notify
		n.JobID, n.Clean, n.NTime = is.id, is.clean, is.ntime
		return append(bufs, sv1.AppendNotify(nil, &n))
	case is.clean:
		return append(bufs, pj.v1.clean)
	default:
		return append(bufs, pj.v1.normal)
	}
}

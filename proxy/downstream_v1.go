package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
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
		NTime:    pj.ntime,
	}
	pj.v1.normal = sv1.AppendNotify(nil, &pj.v1.notify)
	n := pj.v1.notify
	n.Clean = true
	pj.v1.clean = sv1.AppendNotify(nil, &n)
}

// v1Conn is one Stratum V1 miner connection: one reader goroutine (this one) and one writer
// goroutine, carrying one channel.
type v1Conn struct {
	p      *Proxy
	conn   net.Conn
	log    zerolog.Logger
	ch     *channel
	cancel context.CancelFunc

	subscribed bool   // reader-only
	head       []byte // the first bytes, read to tell the protocol; the line reader gets them first
	msg        sv1.Message
	sub        sv1.Submit
	tokens     float64
	tokensAt   time.Time
	strikes    int
	// nameLogged: a refused worker name was logged; later ones on this connection are only
	// answered, so one miner retrying cannot flood the log.
	nameLogged bool

	outMu      sync.Mutex
	outq       [][]byte
	closeAfter bool
	wake       chan struct{}
	flushed    chan struct{} // closed by the writer once a closeAfter queue is written
	// slow: the send queue overflowed and the miner is being disconnected; slowRepeats counts
	// the replies dropped after that, reported once when the connection ends. Both under outMu.
	slow        bool
	slowRepeats int
}

func (p *Proxy) serveMinerV1(nc net.Conn) {
	ctx, cancel := context.WithCancel(p.ctx)
	s := &v1Conn{p: p, conn: nc, cancel: cancel, wake: make(chan struct{}, 1), flushed: make(chan struct{}), tokens: 2 * p.cfg.SubmitRate, tokensAt: p.clk.Now()}
	s.log = p.log.With().Str("remote", nc.RemoteAddr().String()).Logger()
	s.ch = p.newChannel("sv1", nc.RemoteAddr().String(), s.log, s.signal)
	stopClose := context.AfterFunc(ctx, func() { nc.Close() })
	defer stopClose()
	setup := p.armSetup(ctx, cancel, nc.RemoteAddr(), s.log, s.ready)
	defer setup.Stop()
	head, ok := p.openV1(ctx, nc, s.log)
	if !ok {
		cancel()
		nc.Close()
		return
	}
	s.head = head
	if tc := tcpConn(nc); tc != nil {
		tc.SetNoDelay(true)
		tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 10 * time.Second, Count: 3})
	}
	p.addChannel(s.ch)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.writeLoop(ctx)
	}()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Msg("miner session crashed; closing it")
		}
		s.outMu.Lock()
		closing := s.closeAfter
		s.outMu.Unlock()
		if closing {
			// Let the writer deliver the final error, then close gracefully so the miner
			// reads it instead of a reset.
			select {
			case <-s.flushed:
				lingerClose(nc)
			case <-time.After(s.p.cfg.WriteTimeout.D()):
			}
		}
		cancel()
		nc.Close()
		wg.Wait()
		p.removeChannel(s.ch)
		s.outMu.Lock()
		dropped := s.slowRepeats
		s.outMu.Unlock()
		if dropped > 0 {
			s.log.Info().Int("dropped_replies", dropped).Msg("slow miner gone; replies dropped after its send queue filled")
		}
		s.log.Debug().Msg("miner disconnected")
	}()
	s.readLoop(ctx)
}

func (s *v1Conn) readLoop(ctx context.Context) {
	p := s.p
	lr := sv1.NewLineReader(s.input(), p.cfg.MaxLine)
	bad := 0
	// malformed counts the connection's bad lines. Only the first is logged and the total
	// when the connection ends: bad counts only a run, so a miner mixing good lines with bad
	// ones would otherwise log without end.
	malformed := 0
	defer func() {
		if malformed > 1 {
			s.log.Info().Int("malformed", malformed).Msg("miner gone; malformed messages after the first were answered, not logged")
		}
	}()
	for {
		s.conn.SetReadDeadline(time.Now().Add(15 * time.Minute))
		line, err := lr.ReadLine()
		if err != nil {
			if errors.Is(err, sv1.ErrLineTooLong) {
				p.drops.oversizedLines.Add(1)
				s.log.Warn().Int("max", p.cfg.MaxLine).Msg("line too long from miner; closing")
				s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "Line too long")))
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
			if malformed++; malformed == 1 {
				s.log.Info().Err(err).Msg("malformed message from miner; later ones on this connection are counted, not logged")
			}
			s.send(sv1.AppendErrorResponse(nil, nil, sv1.NewError(-32700, "Parse error: "+err.Error())))
			if bad > 20 {
				s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "Too many malformed messages")))
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

var errNotSupported = sv1.NewError(codeOther, "Not supported.")

func (s *v1Conn) handle(ctx context.Context, m *sv1.Message) error {
	if m.IsResponse() {
		return nil // a reply to our (rare) requests, or a pong
	}
	c := s.ch
	switch m.Method {
	case sv1.MethodSubmit:
		return s.handleSubmit(m)
	case sv1.MethodConfigure:
		s.handleConfigure(m)
	case sv1.MethodSubscribe:
		return s.handleSubscribe(ctx, m)
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

func (s *v1Conn) handleSubscribe(ctx context.Context, m *sv1.Message) error {
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
	// Miners may connect before any pool has answered: wait (bounded) for the layout.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	layout, err := s.p.waitLayout(wctx)
	cancel()
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
			s.log.Info().Str("name", loggableName(a.Username)).Int("bytes", len(a.Username)).Err(err).Msg("worker name refused")
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
		s.log = s.log.With().Str("worker", a.Username).Logger()
		c.log = c.log.With().Str("worker", a.Username).Logger()
		s.log.Info().Str("agent", c.agent).Msg("miner authorized")
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

func (s *v1Conn) handleSubmit(m *sv1.Message) error {
	p := s.p
	if !s.allowSubmit(p.clk.Now()) {
		p.drops.floodedMiner.Add(1)
		s.strikes++
		s.replyErr(m.ID, sv1.NewError(codeOther, "Too many submits"))
		if s.strikes > int(p.cfg.SubmitRate)*10 {
			s.sendAndClose(sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "Submit flood; disconnecting")))
			return errFlood
		}
		return nil
	}
	if !s.subscribed {
		s.replyErr(m.ID, sv1.NewError(codeNotSubscribed, "Not subscribed"))
		return nil
	}
	c := s.ch
	c.mu.Lock()
	authorized := c.authorized
	c.mu.Unlock()
	if !authorized {
		s.replyErr(m.ID, sv1.NewError(codeUnauthorized, "Unauthorized worker"))
		return nil
	}
	id := m.ID
	sub := &s.sub
	if err := m.UnmarshalParams(sub); err != nil {
		c.reject(nil, nil, ResultInvalid, codeOther, "Invalid params: "+err.Error(), s.replier(id))
		return nil
	}
	c.submit(&shareReq{
		jobID:          sub.JobID,
		x:              sub.Extranonce2,
		ntime:          sub.NTime,
		nonce:          sub.Nonce,
		versionBits:    sub.VersionBits,
		hasVersionBits: sub.HasVersionBits,
	}, s.replier(id))
	return nil
}

// replier answers a share by its request id; the id is copied because the reply may come
// after the reader has moved on (a pool verdict).
func (s *v1Conn) replier(id json.RawMessage) replyFunc {
	id = append(json.RawMessage(nil), id...)
	return func(code int, msg string) {
		if code == 0 {
			s.reply(id, true)
			return
		}
		s.replyErr(id, sv1.NewError(code, msg))
	}
}

func (s *v1Conn) reply(id json.RawMessage, ok bool) {
	s.send(sv1.AppendBoolResponse(nil, id, ok))
}

func (s *v1Conn) replyErr(id json.RawMessage, e *sv1.Error) {
	s.send(sv1.AppendErrorResponse(nil, id, e))
}

// send queues a line. A miner whose queue is full is not reading: it is disconnected (the
// named drop policy for replies), so it cannot hold memory or delay anyone. That is counted and
// logged once; replies still coming (pool verdicts, answers to lines already read) are dropped
// and counted for the connection's last log line.
func (s *v1Conn) send(line []byte) {
	s.outMu.Lock()
	if s.slow || len(s.outq) >= s.p.cfg.SendQueue {
		first := !s.slow
		if first {
			s.slow = true
		} else {
			s.slowRepeats++
		}
		s.outMu.Unlock()
		if first {
			s.p.drops.slowMiner.Add(1)
			s.log.Warn().Int("send_queue", s.p.cfg.SendQueue).Msg("miner is not reading its replies; disconnecting")
			s.cancel()
		}
		return
	}
	s.outq = append(s.outq, line)
	s.outMu.Unlock()
	s.signal()
}

func (s *v1Conn) sendAndClose(line []byte) {
	s.outMu.Lock()
	s.outq = append(s.outq, line)
	s.closeAfter = true
	s.outMu.Unlock()
	s.signal()
}

func (s *v1Conn) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes what is queued and the latest job offer with one writev per wake-up. It
// holds no buffer of its own between writes (lines are shared or already allocated), which
// keeps an idle miner cheap.
func (s *v1Conn) writeLoop(ctx context.Context) {
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
		closeAfter := s.closeAfter
		s.outMu.Unlock()

		bufs := q
		if !closeAfter {
			if pj, flags := s.ch.takeOffer(); pj != nil {
				bufs = s.appendJob(bufs, pj, flags)
			}
		}
		var err error
		if len(bufs) > 0 {
			s.conn.SetWriteDeadline(time.Now().Add(s.p.cfg.WriteTimeout.D()))
			nb := net.Buffers(bufs)
			_, err = nb.WriteTo(s.conn)
		}
		clear(bufs)
		spare = bufs[:0]
		if cap(spare) > 64 {
			spare = nil // a burst is over: do not keep its slice
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Info().Err(err).Msg("write to miner failed; disconnecting")
			}
			s.cancel()
			return
		}
		if closeAfter {
			close(s.flushed)
			return
		}
	}
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
		line, err := sv1.AppendNotification(nil, &sv1.SetDifficulty{Difficulty: json.Number(strconv.FormatFloat(is.diff, 'f', -1, 64))})
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

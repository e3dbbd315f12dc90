package proxy

import (
	"sync"
	"time"

	"github.com/hashgate/hashgate/stratum/sv2"
)

// An SV2 connection's output has one owner: v2Conn.outMu and what it guards. Whoever produces
// frames for the miner (its reader answering, a pool verdict, the job fan-out) encrypts and
// writes them itself, at once, with a write that never waits (rawWriter). Only when the
// socket refuses bytes is a flusher goroutine started; it writes the rest with blocking
// writes under write_timeout, then what was queued meanwhile, and exits. An idle miner has no
// writer goroutine, and a new block reaches it without a goroutine wake-up.
//
// Encryption numbers the frames, so frames are sealed and written in one order: under outMu
// by a direct write, or by the flusher while it owns the socket (producers then only queue).

// send queues a frame and writes it now, unless the reader holds replies or a flusher owns the
// socket. A miner whose queue is full while the socket refuses bytes is not reading: it is
// disconnected (the named drop policy), so it can neither hold memory nor delay anyone. That
// is counted and logged once; frames still coming are dropped and counted for the
// connection's last log line.
func (s *v2Conn) send(m sv2.Message) {
	b, err := sv2.AppendFrame(nil, m)
	if err != nil {
		s.logger().Error().Err(err).Msg("encoding a frame for a miner")
		return
	}
	slowNow, err := s.enqueue(b)
	if slowNow {
		s.p.drops.slowMiner.Add(1)
		s.logger().Warn().Int("send_queue", s.p.cfg.SendQueue).Msg("miner is not reading; disconnecting")
		s.kill()
	}
	if err != nil {
		s.writeFailed(err)
	}
}

func (s *v2Conn) enqueue(frame []byte) (slowNow bool, err error) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outClosed || s.closeAfter {
		return false, nil
	}
	if s.slow || s.writing && len(s.outq) >= s.p.cfg.SendQueue {
		if s.slow {
			s.slowRepeats++
			return false, nil
		}
		s.slow = true
		return true, nil
	}
	s.outq = append(s.outq, frame)
	if s.writing || s.holding && len(s.outq) < maxHeld {
		return false, nil
	}
	return false, s.flushLocked()
}

// sendAndClose writes a last frame at once; the session then waits (bounded) for it to be
// written before closing.
func (s *v2Conn) sendAndClose(m sv2.Message) {
	b, err := sv2.AppendFrame(nil, m)
	if err != nil {
		s.logger().Error().Err(err).Msg("encoding a frame for a miner")
		s.kill()
		return
	}
	if err := s.enqueueLast(b); err != nil {
		s.writeFailed(err)
	}
}

func (s *v2Conn) enqueueLast(frame []byte) error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outClosed || s.closeAfter {
		return nil
	}
	s.closeAfter = true
	s.flushed = make(chan struct{})
	s.outq = append(s.outq, frame)
	if s.writing {
		return nil
	}
	return s.flushLocked()
}

// accepted adds an accepted share to its channel's pending Success and writes it unless the
// reader holds replies or a flusher owns the socket.
func (s *v2Conn) accepted(vc *v2Chan, seq uint32, diff float64) {
	if err := s.ack(vc, seq, diff); err != nil {
		s.writeFailed(err)
	}
}

func (s *v2Conn) ack(vc *v2Chan, seq uint32, diff float64) error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outClosed || s.closeAfter {
		return nil
	}
	b := s.okFor(vc)
	// SubmitShares.Success acknowledges everything up to last_sequence_number: it only moves
	// forward (mod 2^32), even when a forwarded share's verdict arrives after later shares.
	if !vc.ackSet || int32(seq-vc.ackHW) > 0 {
		vc.ackHW, vc.ackSet = seq, true
	}
	b.last = vc.ackHW
	b.count++
	b.sum += diff
	if s.writing || s.holding {
		return nil
	}
	return s.flushLocked()
}

// okFor returns the channel's pending batch, adding one. A connection has few channels.
func (s *v2Conn) okFor(vc *v2Chan) *okBatch {
	for i := range s.oks {
		if s.oks[i].vc == vc {
			return &s.oks[i]
		}
	}
	s.oks = append(s.oks, okBatch{vc: vc})
	return &s.oks[len(s.oks)-1]
}

// signal is the channels' wake: new work was offered. It is written now, behind anything
// queued, unless a flusher owns the socket (it takes the offers when it has written the rest).
func (s *v2Conn) signal() {
	if err := s.flushOffer(); err != nil {
		s.writeFailed(err)
	}
}

func (s *v2Conn) flushOffer() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.writing || s.outClosed || s.closeAfter {
		return nil
	}
	return s.flushLocked()
}

// holdReplies and releaseReplies bracket the frames one read brought: their replies go out
// together, in one write.
func (s *v2Conn) holdReplies() {
	s.outMu.Lock()
	s.holding = true
	s.outMu.Unlock()
}

func (s *v2Conn) releaseReplies() {
	if err := s.release(); err != nil {
		s.writeFailed(err)
	}
}

func (s *v2Conn) release() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if !s.holding {
		return nil
	}
	s.holding = false
	if len(s.outq) == 0 && len(s.oks) == 0 || s.writing || s.outClosed {
		return nil
	}
	return s.flushLocked()
}

// takeLocked appends to plain, as frames, what is queued, the pending acknowledgements and,
// unless the connection is closing, the channels' latest offers; it empties the queue.
func (s *v2Conn) takeLocked(plain []byte) []byte {
	for _, f := range s.outq {
		plain = append(plain, f...)
	}
	clear(s.outq)
	s.outq = s.outq[:0]
	for _, b := range s.oks {
		plain, _ = sv2.AppendFrame(plain, &sv2.SubmitSharesSuccess{
			ChannelID: b.vc.id, LastSequenceNumber: b.last, NewSubmitsAcceptedCount: b.count, NewSharesSum: uint64(b.sum),
		})
	}
	s.oks = nil
	if !s.closeAfter {
		var few [4]*v2Chan
		for _, vc := range s.snapshot(few[:0]) {
			if pj, flags := vc.ch.takeOffer(); pj != nil {
				plain = s.appendJob(plain, vc, pj, flags)
			}
		}
	}
	return plain
}

// flushLocked seals everything waiting and writes it without waiting; what the socket does not
// take is kept and a flusher started for it. outMu is held; no flusher runs.
func (s *v2Conn) flushLocked() error {
	if s.raw == nil {
		s.startFlusherLocked()
		return nil
	}
	bp := getV2Buf()
	defer putV2Buf(bp)
	plain := s.takeLocked(bp.plain[:0])
	bp.plain = plain
	if len(plain) == 0 {
		s.outq = nil // an idle miner keeps no queue
		return nil
	}
	ct, err := s.nc.SealFrames(bp.ct[:0], plain)
	bp.ct = ct
	if err != nil {
		s.stopLocked()
		return err
	}
	w := getRawWriter()
	defer putRawWriter(w)
	w.bufs = append(w.bufs[:0], ct)
	rest, err := w.write(s.raw)
	if err != nil {
		s.stopLocked()
		return err
	}
	s.outq = nil
	if len(rest) > 0 {
		s.pending = append([]byte(nil), rest[0]...)
		s.startFlusherLocked()
		return nil
	}
	if s.closeAfter {
		s.finalWrittenLocked()
	}
	return nil
}

// stopLocked ends all writing (a write failed, or the session ends): nothing queued or
// offered later is written, and a session waiting for its last frame waits no more.
func (s *v2Conn) stopLocked() {
	s.outClosed = true
	s.outq, s.oks, s.pending = nil, nil, nil
	if s.closeAfter {
		s.finalWrittenLocked()
	}
}

func (s *v2Conn) finalWrittenLocked() {
	if !s.finalDone {
		s.finalDone = true
		close(s.flushed)
	}
}

func (s *v2Conn) startFlusherLocked() {
	s.writing = true
	s.wg.Add(1)
	go s.flusher()
}

// flusher writes what the socket did not take at once, with blocking writes under
// write_timeout, then whatever was queued meanwhile and the latest offers, and exits when
// nothing is left. A write that fails or passes its deadline ends the connection.
func (s *v2Conn) flusher() {
	defer s.wg.Done()
	var plain, ct []byte
	conn := s.nc.NetConn()
	for {
		s.outMu.Lock()
		if s.outClosed {
			s.writing = false
			s.outMu.Unlock()
			return
		}
		ct = append(ct[:0], s.pending...)
		s.pending = nil
		plain = s.takeLocked(plain[:0])
		var err error
		if len(plain) > 0 {
			ct, err = s.nc.SealFrames(ct, plain)
		}
		closeAfter := s.closeAfter
		if err == nil && len(ct) == 0 {
			// Done: the socket takes bytes again. Direct writes resume, with no deadline
			// left over for them to trip on.
			s.writing = false
			s.outq = nil
			conn.SetWriteDeadline(time.Time{})
			s.outMu.Unlock()
			return
		}
		s.outMu.Unlock()
		if err == nil {
			conn.SetWriteDeadline(time.Now().Add(s.p.cfg.WriteTimeout.D()))
			_, err = conn.Write(ct)
		}
		if err != nil {
			s.outMu.Lock()
			s.writing = false
			s.stopLocked()
			s.outMu.Unlock()
			s.writeFailed(err)
			return
		}
		if closeAfter {
			s.outMu.Lock()
			s.writing = false
			s.finalWrittenLocked()
			s.outMu.Unlock()
			return
		}
		if cap(ct) > 256<<10 {
			ct, plain = nil, nil // one huge burst should not stay pinned while the flusher runs
		}
	}
}

// writeFailed ends the connection after a failed write.
func (s *v2Conn) writeFailed(err error) {
	s.logger().Info().Err(err).Msg("write to miner failed; disconnecting")
	s.kill()
}

// closeOutput stops all writing and waits for a running flusher, which the closed connection
// has already unblocked.
func (s *v2Conn) closeOutput() {
	s.outMu.Lock()
	s.stopLocked()
	s.outMu.Unlock()
	s.wg.Wait()
}

// sayReconnect tells a miner of a proxy that is shutting down to come back to the same
// address (empty host, port 0: sv2-spec §3.6.5), so it does not wait out its own backoff.
// Nothing is written after it.
func (s *v2Conn) sayReconnect() {
	if s.p.ctx.Err() == nil || !s.hasChannels() {
		return
	}
	b, err := sv2.AppendFrame(nil, &sv2.Reconnect{})
	if err != nil {
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outClosed || s.writing {
		return
	}
	ct, err := s.nc.SealFrames(nil, b)
	s.outClosed = true
	if err != nil {
		return
	}
	conn := s.nc.NetConn()
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	conn.Write(ct)
}

// v2Bufs are a direct write's plaintext and ciphertext, pooled: an idle connection keeps
// neither.
type v2Bufs struct{ plain, ct []byte }

var v2BufPool = sync.Pool{New: func() any { return new(v2Bufs) }}

func getV2Buf() *v2Bufs { return v2BufPool.Get().(*v2Bufs) }

func putV2Buf(b *v2Bufs) {
	if cap(b.plain) > 64<<10 || cap(b.ct) > 64<<10 {
		return
	}
	v2BufPool.Put(b)
}

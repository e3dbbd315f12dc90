package proxy

import (
	"net"
	"time"
)

// A V1 connection's output has one owner: v1Conn.outMu and what it guards. Whoever produces
// bytes for the miner (its reader answering a request, a pool verdict, the job fan-out)
// writes them itself, at once, with a write that never waits (rawWriter). Only when the socket
// refuses bytes (its buffer is full) or the connection cannot be written without waiting (TLS)
// is a flusher goroutine started; it finishes the queue with blocking writes under
// write_timeout and exits. An idle miner therefore has no writer goroutine, and a new block
// reaches it without a goroutine wake-up.
//
// Ordering: while a flusher runs (writing), producers only queue; the flusher takes the queue,
// then the latest job offer, in that order, exactly as a direct write does. Nothing is ever
// written ahead of bytes still queued.

// maxHeld bounds the replies held back while the reader answers lines it already has; past
// it they are written at once, so a long burst of requests does not look like a slow miner.
const maxHeld = 16

// send queues a line and writes it now unless the reader is in the middle of a burst (held:
// written before its next read) or a flusher owns the socket. A miner whose queue is full
// while the socket refuses bytes is not reading: it is disconnected (the named drop policy
// for replies), so it cannot hold memory or delay anyone. That is counted and logged once;
// replies still coming (pool verdicts, answers to lines already read) are dropped and counted
// for the connection's last log line.
func (s *v1Conn) send(line []byte) {
	slowNow, err := s.enqueue(line)
	if slowNow {
		s.p.drops.slowMiner.Add(1)
		s.ch.log.Warn().Int("send_queue", s.p.cfg.SendQueue).Msg("miner is not reading its replies; disconnecting")
		s.kill()
	}
	if err != nil {
		s.writeFailed(err)
	}
}

// enqueue is send under outMu (unlocked by defer: a panic on the way, say in encoding a job,
// leaves no connection locked). slowNow: the miner has just been found not reading.
func (s *v1Conn) enqueue(line []byte) (slowNow bool, err error) {
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
	if !s.writing && (!s.holding || len(s.outq)+1 >= maxHeld) {
		return false, s.flushLocked(line)
	}
	if s.outq == nil {
		s.outq = make([][]byte, 0, 4) // a burst's replies, without regrowing for each
	}
	s.outq = append(s.outq, line)
	return false, nil
}

// sendAndClose queues the connection's last line and writes it at once; the session then
// waits (bounded) for it to be written before closing.
func (s *v1Conn) sendAndClose(line []byte) {
	if err := s.enqueueLast(line); err != nil {
		s.writeFailed(err)
	}
}

func (s *v1Conn) enqueueLast(line []byte) error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outClosed || s.closeAfter {
		return nil
	}
	s.closeAfter = true
	s.flushed = make(chan struct{})
	if s.writing {
		s.outq = append(s.outq, line)
		return nil
	}
	return s.flushLocked(line)
}

// wakeJob is the channel's wake: new work was offered. It is written now, behind anything
// queued, unless a flusher owns the socket (it takes the offer when it has written the queue).
func (s *v1Conn) wakeJob() {
	if err := s.flushOffer(); err != nil {
		s.writeFailed(err)
	}
}

func (s *v1Conn) flushOffer() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.writing || s.outClosed || s.closeAfter {
		return nil
	}
	return s.flushLocked(nil)
}

// holdReplies and releaseReplies bracket the reader's handling of the lines one read brought:
// replies wait and go out together, one write for a burst.
func (s *v1Conn) holdReplies() {
	s.outMu.Lock()
	s.holding = true
	s.outMu.Unlock()
}

func (s *v1Conn) releaseReplies() {
	if err := s.release(); err != nil {
		s.writeFailed(err)
	}
}

func (s *v1Conn) release() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	s.holding = false
	if len(s.outq) == 0 || s.writing || s.outClosed {
		return nil
	}
	return s.flushLocked(nil)
}

// takeLocked appends the queue, extra (a line not queued) and, unless the connection is
// closing, the latest job offer to bufs, and empties the queue. outMu is held.
func (s *v1Conn) takeLocked(bufs [][]byte, extra []byte) [][]byte {
	bufs = append(bufs, s.outq...)
	clear(s.outq)
	s.outq = s.outq[:0]
	if extra != nil {
		bufs = append(bufs, extra)
	}
	if !s.closeAfter {
		if pj, flags := s.ch.takeOffer(); pj != nil {
			bufs = s.appendJob(bufs, pj, flags)
		}
	}
	return bufs
}

// flushLocked writes the queue, extra (a line not queued: nil for none) and the latest offer
// without waiting. What the socket does not take stays queued and a flusher is started for it.
// outMu is held; the flusher is not running.
func (s *v1Conn) flushLocked(extra []byte) error {
	if s.raw == nil {
		// No write that never waits (TLS): a flusher writes, and exits when it is done.
		if extra != nil {
			s.outq = append(s.outq, extra)
		}
		s.startFlusherLocked()
		return nil
	}
	w := getRawWriter()
	defer putRawWriter(w)
	w.bufs = s.takeLocked(w.bufs[:0], extra)
	if len(w.bufs) == 0 {
		return nil
	}
	rest, err := w.write(s.raw)
	if err != nil {
		s.stopLocked()
		return err
	}
	if len(rest) > 0 {
		s.outq = append(s.outq, rest...)
		s.startFlusherLocked()
		return nil
	}
	s.outq = nil // an idle miner keeps no queue
	if s.closeAfter {
		s.finalWrittenLocked()
	}
	return nil
}

// stopLocked ends all writing (a write failed, or the session ends): nothing queued or
// offered later is written, and a session waiting for its last line waits no more.
func (s *v1Conn) stopLocked() {
	s.outClosed = true
	s.outq = nil
	if s.closeAfter {
		s.finalWrittenLocked()
	}
}

// finalWrittenLocked notes that the last line of a closing connection is written (or never
// will be).
func (s *v1Conn) finalWrittenLocked() {
	if !s.finalDone {
		s.finalDone = true
		close(s.flushed)
	}
}

func (s *v1Conn) startFlusherLocked() {
	s.writing = true
	s.wg.Add(1)
	go s.flusher()
}

// flusher writes what the socket did not take at once, with blocking writes under
// write_timeout, then whatever was queued meanwhile and the latest offer, and exits when
// nothing is left. A write that fails or passes its deadline ends the connection.
func (s *v1Conn) flusher() {
	defer s.wg.Done()
	var bufs [][]byte
	for {
		s.outMu.Lock()
		if s.outClosed {
			s.writing = false
			s.outMu.Unlock()
			return
		}
		bufs = s.takeLocked(bufs[:0], nil)
		closeAfter := s.closeAfter
		if len(bufs) == 0 {
			// Done: the socket takes bytes again. Direct writes resume, with no deadline
			// left over for them to trip on.
			s.writing = false
			s.outq = nil
			s.conn.SetWriteDeadline(time.Time{})
			s.outMu.Unlock()
			return
		}
		s.outMu.Unlock()
		s.conn.SetWriteDeadline(time.Now().Add(s.p.cfg.WriteTimeout.D()))
		nb := net.Buffers(bufs)
		_, err := nb.WriteTo(s.conn)
		clear(bufs)
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
	}
}

// writeFailed ends the connection after a failed write.
func (s *v1Conn) writeFailed(err error) {
	if !s.dead.Load() {
		s.ch.log.Info().Err(err).Msg("write to miner failed; disconnecting")
	}
	s.kill()
}

// closeOutput stops all writing: nothing queued or offered later is written. It waits for a
// running flusher, which the closed connection has already unblocked.
func (s *v1Conn) closeOutput() {
	s.outMu.Lock()
	s.stopLocked()
	s.outMu.Unlock()
	s.wg.Wait()
}

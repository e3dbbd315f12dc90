package proxy

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashgate/hashgate/internal/clock"
)

// A ready plain-TCP V1 miner that has sent nothing holds no goroutine: its reader registers
// the socket in the proxy's one epoll set and exits, and the parker starts a reader again
// when the miner has bytes, hangs up or is killed. A reader goroutine's stack (4 KiB) was
// the largest part of an idle miner's memory.
//
// The parker owns the parked connections (token -> connection); whoever takes one out of
// the map (readiness, kill, the idle sweep, the proxy closing) starts its one reader (for
// readiness, a turn on a burst worker: burst.go), so a connection never has two readers and
// its cleanup runs once, on that reader's way out.
// Events carry the connection's token, never the fd: a closed fd reused by a new socket
// can never wake a dead connection.

// parkSweepEvery is how often parked miners are checked against idleReadTimeout: a parked
// miner has no read deadline to wake it, so it is closed between idleReadTimeout and
// idleReadTimeout+parkSweepEvery after its last bytes.
const parkSweepEvery = time.Minute

// parkEvents bounds the events one epoll_wait returns.
const parkEvents = 1024

type parker struct {
	mu       sync.Mutex
	p        *Proxy
	started  bool
	closed   bool     // stopped, or failed to start: nothing parks any more
	ep       *os.File // the epoll set; closed to stop the loop
	stopping atomic.Bool
	rc       syscall.RawConn
	next     uint64
	parked   map[uint64]parkedConn
	sweep    clock.Timer
	errs     uint64    // epoll errors, logged as they happen
	bursts   burstPool // runs the bursts of the miners that wake (burst.go)
}

type parkedConn struct {
	s     *v1Conn
	since time.Time
}

// park hands s, whose socket has just had nothing to read, to the parker. true: s is
// parked, and the calling reader must return at once without touching s again (another
// reader may already run it). false: s is dead, the proxy is closing or the socket could
// not be registered, and the caller keeps reading as before.
func (pk *parker) park(s *v1Conn) bool {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.closed || s.dead.Load() || !pk.startLocked(s.p) {
		return false
	}
	if s.parkTok == 0 {
		pk.next++
		s.parkTok = pk.next
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	setEventToken(&ev, s.parkTok)
	op := syscall.EPOLL_CTL_ADD
	if s.parkArmed {
		op = syscall.EPOLL_CTL_MOD
	}
	// Both descriptors are held open for the call: neither number can be another file's.
	var serr, cerr error
	err := pk.rc.Control(func(epfd uintptr) {
		serr = s.raw.Control(func(fd uintptr) { cerr = syscall.EpollCtl(int(epfd), op, int(fd), &ev) })
	})
	err = errors.Join(err, serr, cerr)
	if err != nil {
		if !s.dead.Load() {
			pk.errs++
			s.ch.log.Warn().Err(err).Uint64("park_errors", pk.errs).Msg("could not park an idle miner; its reader waits instead")
		}
		return false
	}
	s.parkArmed = true
	pk.parked[s.parkTok] = parkedConn{s: s, since: pk.p.clk.Now()}
	return true
}

// take removes s from the parked set; true: the caller owns s's next reader and must start
// it (resume). It is counted in the proxy's goroutines from here, under the parker's lock,
// so Close cannot finish between the take and the start.
func (pk *parker) take(s *v1Conn) bool {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if s.parkTok == 0 {
		return false
	}
	if pc, ok := pk.parked[s.parkTok]; !ok || pc.s != s {
		return false
	}
	delete(pk.parked, s.parkTok)
	pk.p.wg.Add(1)
	return true
}

// count is the number of parked connections.
func (pk *parker) count() int {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return len(pk.parked)
}

// startLocked makes the epoll set and its loop on first use. It runs on a miner's reader,
// which the proxy's WaitGroup counts, so adding the loop to it cannot race Close's Wait.
func (pk *parker) startLocked(p *Proxy) bool {
	if pk.started {
		return true
	}
	pk.started, pk.p = true, p
	if p.ctx.Err() != nil {
		pk.closed = true
		return false
	}
	// The epoll set is itself waited for in the Go poller (it is readable while it holds
	// events), so the loop is an ordinary network goroutine rather than a thread blocked in
	// epoll_wait, and closing the file ends it.
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err == nil {
		err = syscall.SetNonblock(epfd, true)
		if err != nil {
			syscall.Close(epfd)
		}
	}
	var rc syscall.RawConn
	if err == nil {
		pk.ep = os.NewFile(uintptr(epfd), "parker-epoll")
		rc, err = pk.ep.SyscallConn()
		if err != nil {
			pk.ep.Close()
		}
	}
	if err != nil {
		pk.closed = true
		p.log.Error().Err(err).Msg("no epoll set for idle miners; each keeps a reader goroutine")
		return false
	}
	pk.rc = rc
	pk.parked = map[uint64]parkedConn{}
	pk.bursts.p, pk.bursts.max = p, burstWorkers()
	p.wg.Add(1)
	go pk.loop(rc)
	context.AfterFunc(p.ctx, pk.stop)
	pk.sweep = p.clk.AfterFunc(parkSweepEvery, pk.sweepIdle)
	return true
}

// stop ends the loop (the proxy is closing): its wait on the closed file returns.
func (pk *parker) stop() {
	pk.stopping.Store(true)
	pk.ep.Close()
}

// setEventToken and eventToken keep a 64-bit token in the event's data union, whose halves
// package syscall names Fd and Pad.
func setEventToken(ev *syscall.EpollEvent, tok uint64) {
	ev.Fd, ev.Pad = int32(uint32(tok)), int32(uint32(tok>>32))
}

func eventToken(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// loop waits for parked sockets to become readable and queues them for the burst workers.
// It never blocks on a connection.
func (pk *parker) loop(rc syscall.RawConn) {
	defer pk.p.wg.Done()
	events := make([]syscall.EpollEvent, parkEvents)
	var ready []*v1Conn
	var werr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				werr = err
				return true
			}
			if n == 0 {
				return false // wait in the Go poller for the set to hold events
			}
			pk.wake(events[:n], &ready)
		}
	})
	if err == nil {
		err = werr
	}
	if !pk.stopping.Load() {
		pk.mu.Lock()
		pk.errs++
		errs := pk.errs
		pk.mu.Unlock()
		pk.p.log.Error().Err(err).Uint64("park_errors", errs).Msg("waiting on the epoll set failed; parked miners get their readers back")
		pk.ep.Close()
	}
	// Nothing parks any more; every parked miner gets its reader back, which finds its
	// connection closed by the shutdown (or waits for it) and cleans up.
	ready = ready[:0]
	pk.mu.Lock()
	pk.closed = true
	for tok, pc := range pk.parked {
		delete(pk.parked, tok)
		pk.p.wg.Add(1)
		ready = append(ready, pc.s)
	}
	if pk.sweep != nil {
		pk.sweep.Stop()
	}
	pk.mu.Unlock()
	for _, s := range ready {
		go s.resume()
	}
}

// wake queues the connections in events for the burst workers.
func (pk *parker) wake(events []syscall.EpollEvent, ready *[]*v1Conn) {
	*ready = (*ready)[:0]
	pk.mu.Lock()
	for i := range events {
		if pc, ok := pk.parked[eventToken(&events[i])]; ok {
			delete(pk.parked, pc.s.parkTok)
			pk.p.wg.Add(1)
			*ready = append(*ready, pc.s)
		}
	}
	pk.mu.Unlock()
	if len(*ready) > 0 {
		pk.bursts.run(*ready)
	}
	clear(*ready)
}

// sweepIdle closes the parked miners idle for idleReadTimeout, through the normal close
// path: killed, then their reader started to see the closed connection and clean up.
func (pk *parker) sweepIdle() {
	pk.mu.Lock()
	if pk.closed {
		pk.mu.Unlock()
		return
	}
	now := pk.p.clk.Now()
	var idle []*v1Conn
	for tok, pc := range pk.parked {
		if now.Sub(pc.since) >= idleReadTimeout {
			delete(pk.parked, tok)
			pk.p.wg.Add(1)
			idle = append(idle, pc.s)
		}
	}
	pk.sweep = pk.p.clk.AfterFunc(parkSweepEvery, pk.sweepIdle)
	pk.mu.Unlock()
	for _, s := range idle {
		s.ch.log.Debug().Dur("idle", idleReadTimeout).Msg("miner sent nothing for too long; closing")
		s.kill()
		go s.resume()
	}
}

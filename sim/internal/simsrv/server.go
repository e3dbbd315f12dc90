// Package simsrv is what hashgate's simulators share beneath their protocols: for the pools
// the accept loop and the set of live connections, shutdown, the fault modes tests switch on,
// the share tallies and each connection's drain-then-flush writer; for the miners, the
// reconnect loop.
package simsrv

import (
	"bufio"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a simulated pool treats shares and connections.
type Mode int32

// Pool behaviours.
const (
	Normal    Mode = iota
	RejectAll      // answer every share with a low-difficulty reject
	Stall          // read but never answer or send anything
	// SilentSubmits keeps sending work and answering everything but shares, which are read
	// and never answered: a pool whose share path is stuck while its job feed is not.
	// sim/pool implements it; sim/pool2 treats it as Normal.
	SilentSubmits
)

// Server tracks a pool's listeners, connections and goroutines. The zero value is not
// usable: call New.
type Server struct {
	mode atomic.Int32

	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]struct{}
	closed bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	accepted atomic.Uint64
	rejected atomic.Uint64
	blocks   atomic.Uint64
	sessions atomic.Uint64
	byName   sync.Map // worker or user identity -> *atomic.Uint64 (accepted)
}

// New returns a running server with no listener yet.
func New() *Server {
	s := &Server{conns: map[net.Conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Done is closed when the server closes.
func (s *Server) Done() <-chan struct{} { return s.ctx.Done() }

// Go runs f in a goroutine that Close waits for.
func (s *Server) Go(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Accept serves every connection accepted on l with handle, each in its own goroutine;
// the connection is closed when handle returns or the server closes.
func (s *Server) Accept(l net.Listener, handle func(net.Conn)) {
	s.mu.Lock()
	s.lns = append(s.lns, l)
	s.mu.Unlock()
	s.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.sessions.Add(1)
			s.Go(func() {
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(c)
			})
		}
	})
}

// Close stops the server and waits for its goroutines. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	lns := s.lns
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	for _, l := range lns {
		l.Close()
	}
	s.wg.Wait()
}

// DisconnectAll drops every connection (a pool restart, as miners see it).
func (s *Server) DisconnectAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Sessions counts the connections ever accepted: a client that reconnects shows here.
func (s *Server) Sessions() uint64 { return s.sessions.Load() }

// Connections is the number of connected clients.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// SetMode changes how shares are treated from now on.
func (s *Server) SetMode(m Mode) { s.mode.Store(int32(m)) }

// Mode is the behaviour in force.
func (s *Server) Mode() Mode { return Mode(s.mode.Load()) }

// CountAccepted records a share accepted under name, and whether it was a block.
func (s *Server) CountAccepted(name string, block bool) {
	if block {
		s.blocks.Add(1)
	}
	s.accepted.Add(1)
	v, _ := s.byName.LoadOrStore(name, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// CountBlock records a block solve whatever the share's own verdict: a pool submits a
// solved block to its node even when the share misses the client's difficulty (ckpool
// tests every share for a block before it judges the share).
func (s *Server) CountBlock() { s.blocks.Add(1) }

// CountRejected records a rejected share.
func (s *Server) CountRejected() { s.rejected.Add(1) }

// Accepted, Rejected and Blocks count share verdicts.
func (s *Server) Accepted() uint64 { return s.accepted.Load() }
func (s *Server) Rejected() uint64 { return s.rejected.Load() }
func (s *Server) Blocks() uint64   { return s.blocks.Load() }

// AcceptedBy counts accepted shares submitted under one worker name (V1) or user identity
// (V2).
func (s *Server) AcceptedBy(name string) uint64 {
	if v, ok := s.byName.Load(name); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

// WriteLoop writes what is queued on out, draining whatever else is queued before one flush.
// A nil entry flushes and stops; a failed write closes nc, so a client that does not read is
// dropped as pools drop it.
func WriteLoop(nc net.Conn, out <-chan []byte) {
	bw := bufio.NewWriter(nc)
	for b := range out {
		if b == nil {
			bw.Flush()
			return
		}
		bw.Write(b)
		for len(out) > 0 {
			if b = <-out; b == nil {
				bw.Flush()
				return
			}
			bw.Write(b)
		}
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if bw.Flush() != nil {
			nc.Close()
			return
		}
	}
}

// RunSessions runs a simulated client's sessions until ctx ends: one session, or, with
// reconnect, a new one delay after each loss (as firmware does). It returns the session's
// error when it does not reconnect.
func RunSessions(ctx context.Context, reconnect bool, delay time.Duration, session func(context.Context) error) error {
	for {
		err := session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !reconnect {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

package noise

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Listener accepts connections from an inner net.Listener and runs the
// responder handshake for each in its own goroutine, at most
// Config.MaxHandshakes at once and each bounded by Config.HandshakeTimeout.
// Accept returns only connections whose handshake finished, so one peer
// that stalls never delays another.
type Listener struct {
	inner  net.Listener
	static *KeyPair
	cert   Certificate
	cfg    *Config
	log    zerolog.Logger

	ready chan *Conn
	slots chan struct{} // one token per running or undelivered handshake
	done  chan struct{}

	mu       sync.Mutex
	inFlight map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup

	accepted, completed, failed, timedOut, acceptErrors atomic.Uint64
}

var _ net.Listener = (*Listener)(nil)

// ListenerStats counts handshake outcomes since the Listener started.
type ListenerStats struct {
	Accepted     uint64 // TCP connections taken from the inner listener
	Completed    uint64 // handshakes that succeeded
	Failed       uint64 // handshakes that failed for any reason but timeout
	TimedOut     uint64 // handshakes cut by HandshakeTimeout
	AcceptErrors uint64 // errors from the inner listener's Accept
}

// NewListener starts handshaking connections from inner. It owns inner from
// now on and closes it in Close.
func NewListener(inner net.Listener, static *KeyPair, cert Certificate, cfg *Config) (*Listener, error) {
	cfg, err := orDefault(cfg)
	if err != nil {
		return nil, err
	}
	if static == nil {
		return nil, fmt.Errorf("%w: no static key", ErrInvalidKey)
	}
	l := &Listener{
		inner:    inner,
		static:   static,
		cert:     cert,
		cfg:      cfg,
		log:      cfg.Logger.With().Str("listener", inner.Addr().String()).Logger(),
		ready:    make(chan *Conn),
		slots:    make(chan struct{}, cfg.MaxHandshakes),
		done:     make(chan struct{}),
		inFlight: make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Accept returns the next connection whose handshake succeeded; its
// dynamic type is *Conn.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptConn() }

// AcceptConn is Accept with the concrete type.
func (l *Listener) AcceptConn() (*Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Addr returns the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Stats returns the handshake counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{
		Accepted:     l.accepted.Load(),
		Completed:    l.completed.Load(),
		Failed:       l.failed.Load(),
		TimedOut:     l.timedOut.Load(),
		AcceptErrors: l.acceptErrors.Load(),
	}
}

// Close stops accepting, closes the inner listener and every connection
// still handshaking or waiting for Accept, and waits for its goroutines.
// Connections already returned by Accept are the caller's. Close is
// idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	for c := range l.inFlight {
		c.Close()
	}
	l.mu.Unlock()
	err := l.inner.Close()
	l.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		// Take a slot before accepting: when all are busy, new peers wait in
		// the kernel backlog instead of in our memory.
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		c, err := l.inner.Accept()
		if err != nil {
			<-l.slots
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.acceptErrors.Add(1)
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn().Err(err).Dur("backoff", backoff).Msg("accept failed")
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		l.accepted.Add(1)
		if !l.track(c) {
			c.Close()
			<-l.slots
			return
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

func (l *Listener) handshake(c net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	log := l.log.With().Str("remote", c.RemoteAddr().String()).Logger()
	defer func() {
		if r := recover(); r != nil {
			l.untrack(c)
			l.failed.Add(1)
			c.Close()
			log.Error().Interface("panic", r).Msg("handshake panicked")
		}
	}()

	nc, err := Server(c, l.static, l.cert, l.cfg)
	if err != nil {
		l.untrack(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			l.timedOut.Add(1)
		} else {
			l.failed.Add(1)
		}
		c.Close()
		log.Debug().Err(err).Msg("handshake failed")
		return
	}
	// From here the select below owns c: it either hands it over or, once
	// the Listener closes, closes it.
	l.untrack(c)
	l.completed.Add(1)
	select {
	case l.ready <- nc:
	case <-l.done:
		c.Close()
	}
}

// track records c so Close can interrupt its handshake; it refuses once
// the Listener is closed.
func (l *Listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.inFlight[c] = struct{}{}
	return true
}

func (l *Listener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.inFlight, c)
	l.mu.Unlock()
}

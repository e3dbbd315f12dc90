package noise

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Listener accepts connections from an inner net.Listener and runs the
// responder handshake for each in its own goroutine, at most
// Config.MaxHandshakes at once and each bounded by Config.HandshakeTimeout.
// Accept returns only connections whose handshake finished, so one peer
// that stalls never delays another. With Fairness, one remote address gets
// only its share of the handshake slots: a host that opens hundreds of
// connections and stays silent cannot lock everyone else out.
type Listener struct {
	inner  net.Listener
	static *KeyPair
	cert   Certificate
	cfg    *Config
	fair   Fairness
	perIP  int // handshakes one address may run at once
	log    zerolog.Logger

	ready chan *Conn
	// slots holds one token per connection accepted and not yet delivered
	// or closed: running, waiting for a slot, or waiting for Accept.
	slots chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	inFlight map[net.Conn]struct{}
	running  int
	waiting  int
	byAddr   map[netip.Addr]*addrState
	turns    []netip.Addr // addresses with waiting connections, in turn order
	closed   bool
	wg       sync.WaitGroup

	accepted, completed, failed, timedOut, refused, acceptErrors atomic.Uint64
}

var _ net.Listener = (*Listener)(nil)

// Fairness shares a Listener's handshake slots between remote addresses.
// The zero value shares nothing: any address may take every slot.
type Fairness struct {
	// PerIP is how many handshakes one remote address may run at once
	// (0: Config.MaxHandshakes).
	PerIP int
	// Backlog is how many accepted connections may wait for a slot, one
	// address holding at most half of them (at least one). A connection
	// that finds no slot and no room to wait is closed at once, and one
	// that waited HandshakeTimeout is closed when its turn comes. 0: none
	// wait.
	Backlog int
	// Refused, when set, is told of every connection closed because its
	// address had its share of slots and of the backlog, so the caller can
	// log it as it logs other limits (nil: a Debug line only).
	Refused func(remote net.Addr)
}

// addrState is one remote address's share: its running handshakes and its
// connections waiting for a slot, oldest first.
type addrState struct {
	running int
	waiting []waiter
}

type waiter struct {
	c  net.Conn
	at time.Time
}

// ListenerStats counts handshake outcomes since the Listener started.
type ListenerStats struct {
	Accepted     uint64 // TCP connections taken from the inner listener
	Completed    uint64 // handshakes that succeeded
	Failed       uint64 // handshakes that failed for any reason but timeout
	TimedOut     uint64 // handshakes cut by HandshakeTimeout, or that waited that long for a slot
	Refused      uint64 // closed at once: their address had its share of slots and of the backlog
	AcceptErrors uint64 // errors from the inner listener's Accept
}

// NewListener starts handshaking connections from inner. It owns inner from
// now on and closes it in Close.
func NewListener(inner net.Listener, static *KeyPair, cert Certificate, cfg *Config) (*Listener, error) {
	return NewFairListener(inner, static, cert, cfg, Fairness{})
}

// NewFairListener is NewListener sharing the handshake slots between
// remote addresses as fair says.
func NewFairListener(inner net.Listener, static *KeyPair, cert Certificate, cfg *Config, fair Fairness) (*Listener, error) {
	cfg, err := orDefault(cfg)
	if err != nil {
		return nil, err
	}
	if static == nil {
		return nil, fmt.Errorf("%w: no static key", ErrInvalidKey)
	}
	if fair.PerIP < 0 || fair.Backlog < 0 {
		return nil, fmt.Errorf("noise: fairness %+v is negative", fair)
	}
	l := &Listener{
		inner:    inner,
		static:   static,
		cert:     cert,
		cfg:      cfg,
		fair:     fair,
		perIP:    cfg.MaxHandshakes,
		log:      cfg.Logger.With().Str("listener", inner.Addr().String()).Logger(),
		ready:    make(chan *Conn),
		slots:    make(chan struct{}, cfg.MaxHandshakes+fair.Backlog),
		done:     make(chan struct{}),
		inFlight: make(map[net.Conn]struct{}),
		byAddr:   make(map[netip.Addr]*addrState),
	}
	if fair.PerIP > 0 && fair.PerIP < cfg.MaxHandshakes {
		l.perIP = fair.PerIP
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
		Refused:      l.refused.Load(),
		AcceptErrors: l.acceptErrors.Load(),
	}
}

// Close stops accepting, closes the inner listener and every connection
// still handshaking, waiting for a slot or waiting for Accept, and waits
// for its goroutines. Connections already returned by Accept are the
// caller's. Close is idempotent.
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
		// Take a token before accepting: when every slot is busy and the
		// backlog is full, new peers wait in the kernel backlog instead of
		// in our memory.
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
		if !l.admit(c) {
			return
		}
	}
}

// admit starts c's handshake, queues it behind its address's running ones,
// or refuses it. It reports false once the Listener is closed.
func (l *Listener) admit(c net.Conn) bool {
	addr := remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		<-l.slots
		return false
	}
	st := l.byAddr[addr]
	if st == nil {
		st = &addrState{}
		l.byAddr[addr] = st
	}
	if l.running < l.cfg.MaxHandshakes && st.running < l.perIP {
		l.start(c, addr, st)
		return true
	}
	if l.waiting >= l.fair.Backlog || len(st.waiting) >= max(l.fair.Backlog/2, 1) {
		l.refused.Add(1)
		l.forget(addr, st)
		c.Close()
		<-l.slots
		if l.fair.Refused != nil {
			l.fair.Refused(c.RemoteAddr())
		} else {
			l.log.Debug().Str("remote", c.RemoteAddr().String()).Int("running", st.running).
				Msg("handshake refused: the address has its share of slots and of the backlog")
		}
		return true
	}
	l.inFlight[c] = struct{}{}
	if len(st.waiting) == 0 {
		l.turns = append(l.turns, addr)
	}
	st.waiting = append(st.waiting, waiter{c: c, at: time.Now()})
	l.waiting++
	return true
}

// start runs c's handshake; l.mu is held.
func (l *Listener) start(c net.Conn, addr netip.Addr, st *addrState) {
	l.inFlight[c] = struct{}{}
	l.running++
	st.running++
	l.wg.Add(1)
	go l.handshake(c, addr)
}

// finish returns a handshake's slot and gives it to the next waiting
// connection whose address is under its share, taking addresses in turn.
func (l *Listener) finish(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	if st := l.byAddr[addr]; st != nil {
		st.running--
		l.forget(addr, st)
	}
	now := time.Now()
	for i := 0; i < len(l.turns) && !l.closed && l.running < l.cfg.MaxHandshakes; {
		a := l.turns[i]
		st := l.byAddr[a]
		if st.running >= l.perIP {
			i++
			continue
		}
		w := st.waiting[0]
		st.waiting[0] = waiter{}
		st.waiting = st.waiting[1:]
		l.waiting--
		// The address goes to the back of the turns if it has more waiting.
		l.turns = append(l.turns[:i], l.turns[i+1:]...)
		if len(st.waiting) > 0 {
			l.turns = append(l.turns, a)
		}
		if t := l.cfg.HandshakeTimeout; t > 0 && now.Sub(w.at) >= t {
			delete(l.inFlight, w.c)
			l.timedOut.Add(1)
			w.c.Close()
			<-l.slots
			l.forget(a, st)
			continue
		}
		delete(l.inFlight, w.c)
		l.start(w.c, a, st)
		return
	}
}

// forget drops an address with nothing running or waiting; l.mu is held.
func (l *Listener) forget(addr netip.Addr, st *addrState) {
	if st.running == 0 && len(st.waiting) == 0 {
		delete(l.byAddr, addr)
	}
}

func (l *Listener) handshake(c net.Conn, addr netip.Addr) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	nc := l.serve(c)
	l.finish(addr)
	if nc == nil {
		return
	}
	// From here the select below owns c: it either hands it over or, once
	// the Listener closes, closes it.
	select {
	case l.ready <- nc:
	case <-l.done:
		c.Close()
	}
}

// serve runs the responder handshake on c and returns the session, or nil
// after closing c.
func (l *Listener) serve(c net.Conn) (nc *Conn) {
	log := l.log.With().Str("remote", c.RemoteAddr().String()).Logger()
	defer func() {
		if r := recover(); r != nil {
			l.untrack(c)
			l.failed.Add(1)
			c.Close()
			log.Error().Interface("panic", r).Msg("handshake panicked")
			nc = nil
		}
	}()
	nc, err := Server(c, l.static, l.cert, l.cfg)
	l.untrack(c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			l.timedOut.Add(1)
		} else {
			l.failed.Add(1)
		}
		c.Close()
		log.Debug().Err(err).Msg("handshake failed")
		return nil
	}
	l.completed.Add(1)
	return nc
}

func (l *Listener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.inFlight, c)
	l.mu.Unlock()
}

// remoteIP is c's remote address without its port (the zero Addr when it
// has none, which puts every such peer in one share).
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

package proxy

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"
	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// LimitsConfig is `[limits]`: how many miner connections hashgate holds, how long one may take
// to start mining, and what it keeps back for everything else. Every stratum listener applies
// it. Over a limit a connection is accepted and closed at once (a V1 miner is told why first),
// counted by reason and logged at most once a minute per address.
type LimitsConfig struct {
	// MaxConnections caps the open connections of each stratum listener (0: only the
	// file-descriptor reserve caps them).
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerIP caps the open connections from one remote address, across every
	// stratum listener (0: no cap). Off by default: a site often puts thousands of miners
	// behind one NAT address, and they all look like one host.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// SetupTimeout is how long a connection may take from accept to mining: a V1 miner must
	// subscribe and authorize, an SV2 miner open a channel after its handshake. Later, an idle
	// connection is closed, so a flood of silent ones does not hold file descriptors.
	SetupTimeout Duration `toml:"setup_timeout"`
	// HandshakeSlots is how many SV2 Noise handshakes each sv2 listener runs at once; more
	// connections wait their turn.
	HandshakeSlots int `toml:"handshake_slots"`
	// HandshakeSlotsPerIP is how many of those one remote address may hold. Its further
	// connections wait in a queue (4 × handshake_slots, half of it at most for one address),
	// so a host that opens hundreds of connections and stays silent locks nobody else out.
	HandshakeSlotsPerIP int `toml:"handshake_slots_per_ip"`
	// HandshakeTimeout bounds one SV2 handshake, and how long a connection waits for a slot.
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// FDReserve is how many file descriptors stay free of miner connections for the console,
	// /healthz, meter pushes, firmware API calls (up to [policy] max_parallel at once), pools
	// and the store. Miner connections are capped at RLIMIT_NOFILE minus this (at most half of
	// the limit is reserved).
	FDReserve int `toml:"fd_reserve"`
}

// DefaultLimitsConfig returns the limits every unset key takes.
func DefaultLimitsConfig() LimitsConfig {
	return LimitsConfig{
		MaxConnections:      100_000,
		SetupTimeout:        Duration(30 * time.Second),
		HandshakeSlots:      noise.DefaultMaxHandshakes,
		HandshakeSlotsPerIP: noise.DefaultMaxHandshakes / 4,
		HandshakeTimeout:    Duration(noise.DefaultHandshakeTimeout),
		FDReserve:           2048,
	}
}

// Validate reports the first wrong key, named as it appears in the config file.
func (c *LimitsConfig) Validate() error {
	switch {
	case c.MaxConnections < 0:
		return errors.New("limits.max_connections: must be >= 0 (0: no cap but fd_reserve)")
	case c.MaxConnectionsPerIP < 0:
		return errors.New("limits.max_connections_per_ip: must be >= 0 (0: no cap)")
	case c.SetupTimeout.D() < time.Second:
		return errors.New("limits.setup_timeout: must be >= 1s")
	case c.HandshakeSlots < 1:
		return errors.New("limits.handshake_slots: must be >= 1")
	case c.HandshakeSlotsPerIP < 1 || c.HandshakeSlotsPerIP > c.HandshakeSlots:
		return errors.New("limits.handshake_slots_per_ip: must be 1 .. handshake_slots")
	case c.HandshakeTimeout.D() < 100*time.Millisecond:
		return errors.New("limits.handshake_timeout: must be >= 100ms")
	case c.FDReserve < 0:
		return errors.New("limits.fd_reserve: must be >= 0")
	}
	return nil
}

// connRefusal is why a connection was closed before it could mine; the names are the reason
// labels of hashgate_stratum_connections_refused_total.
type connRefusal uint8

const (
	refuseFDReserve   connRefusal = iota // the stratum side would eat into fd_reserve
	refuseListener                       // the listener has max_connections open
	refusePerIP                          // the address has max_connections_per_ip open
	refuseTLSOnPlain                     // a TLS ClientHello on a plain V1 port
	refuseHTTPOnPlain                    // an HTTP request on a V1 port
	refuseBinary                         // binary data (an SV2 handshake, say) on a V1 port
	refusePlainOnTLS                     // plain text on a stratum+ssl port
	numRefusals
)

var refusalNames = [numRefusals]string{"fd_reserve", "max_connections", "max_connections_per_ip",
	"tls_on_plain_port", "http_on_plain_port", "binary_on_plain_port", "plain_on_tls_port"}

// ConnStats counts miner connections across every stratum listener.
type ConnStats struct {
	// Open is how many are open now, handshaking or mining.
	Open int `json:"open"`
	// Parked is how many of them are idle V1 miners waiting in the epoll set with no
	// goroutine of their own (Linux; 0 elsewhere).
	Parked int `json:"parked"`
	// Cap is the most that may be open at once under the file-descriptor reserve (0: the
	// limit is unknown, nothing is capped).
	Cap int `json:"cap"`
	// Refused counts connections closed at accept, by reason (fd_reserve, max_connections,
	// max_connections_per_ip, handshake_queue_full, tls_on_plain_port, http_on_plain_port,
	// binary_on_plain_port, plain_on_tls_port).
	Refused map[string]uint64 `json:"refused"`
	// Closed counts connections closed for taking too long to set up, by reason
	// (setup_timeout, handshake_timeout).
	Closed map[string]uint64 `json:"closed"`
}

// connGuard admits miner connections on every stratum listener: the one place that counts
// them, so the limits hold across listeners.
type connGuard struct {
	cfg LimitsConfig
	log zerolog.Logger
	clk clock.Clock
	cap int // most open stratum connections (0: no cap)

	mu       sync.Mutex
	open     int
	byIP     map[netip.Addr]int // kept only when max_connections_per_ip is set
	tlsAddrs []string
	noise    []*noise.Listener

	refused       [numRefusals]atomic.Uint64
	setupTimeouts atomic.Uint64
	notes         noteGate
}

func newConnGuard(cfg LimitsConfig, log zerolog.Logger, clk clock.Clock) *connGuard {
	g := &connGuard{cfg: cfg, log: log, clk: clk, byIP: map[netip.Addr]int{}}
	g.notes.seen = map[string]time.Time{}
	// Go (1.19 on) raised the soft RLIMIT_NOFILE to (one below) the hard limit at start-up;
	// what is left to do is keep miners from taking all of it.
	limit := fileLimit()
	g.cap = stratumCap(limit, cfg.FDReserve)
	if g.cap > 0 {
		ev := log.Info()
		if uint64(cfg.FDReserve) > limit/2 {
			ev = log.Warn().Str("hint", "raise the file-descriptor limit (systemd LimitNOFILE=, ulimit -n)")
		}
		ev.Uint64("rlimit_nofile", limit).Int("fd_reserve", int(limit)-g.cap).Int("max_stratum_connections", g.cap).
			Msg("miner connections capped below the file-descriptor limit")
	}
	return g
}

// stratumCap is how many stratum connections a process with limit file descriptors may hold
// and keep reserve of them free; at most half the limit is reserved. 0 means no cap (the limit
// is unknown or unlimited).
func stratumCap(limit uint64, reserve int) int {
	if limit == 0 || limit > math.MaxInt32 {
		return 0
	}
	r := min(uint64(max(reserve, 0)), limit/2)
	return int(limit - r)
}

// listener wraps l so that its connections are admitted and counted. refuseLine, when set, is
// written to a connection refused over a limit before it is closed (a plain V1 port's JSON).
func (g *connGuard) listener(l net.Listener, refuseLine []byte) *guardedListener {
	return &guardedListener{Listener: l, g: g, refuseLine: refuseLine}
}

// noteTLS records a stratum+ssl listener's address for the advice given on plain ports.
func (g *connGuard) noteTLS(a net.Addr) {
	g.mu.Lock()
	g.tlsAddrs = append(g.tlsAddrs, "stratum+ssl://"+a.String())
	g.mu.Unlock()
}

func (g *connGuard) tlsListeners() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.tlsAddrs) == 0 {
		return "none configured ([[listener]] tls_cert_file and tls_key_file)"
	}
	return strings.Join(g.tlsAddrs, ", ")
}

func (g *connGuard) addNoise(l *noise.Listener) {
	g.mu.Lock()
	g.noise = append(g.noise, l)
	g.mu.Unlock()
}

// admit counts a new connection on l from ip, or says why it may not stay.
func (g *connGuard) admit(l *guardedListener, ip netip.Addr) (connRefusal, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.cap > 0 && g.open >= g.cap:
		return refuseFDReserve, false
	case g.cfg.MaxConnections > 0 && l.open >= g.cfg.MaxConnections:
		return refuseListener, false
	case g.cfg.MaxConnectionsPerIP > 0 && g.byIP[ip] >= g.cfg.MaxConnectionsPerIP:
		return refusePerIP, false
	}
	g.open++
	l.open++
	if g.cfg.MaxConnectionsPerIP > 0 {
		g.byIP[ip]++
	}
	return 0, true
}

func (g *connGuard) release(l *guardedListener, ip netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open--
	l.open--
	if g.cfg.MaxConnectionsPerIP > 0 {
		if g.byIP[ip]--; g.byIP[ip] <= 0 {
			delete(g.byIP, ip)
		}
	}
}

// note returns the event to log something a remote peer caused: at level the first time in a
// minute for this reason and address, at Debug after that (the counters count every one).
func (g *connGuard) note(log *zerolog.Logger, level zerolog.Level, reason string, ip netip.Addr) *zerolog.Event {
	if g.notes.allow(reason+" "+ip.String(), g.clk.Now()) {
		return log.WithLevel(level)
	}
	return log.Debug()
}

// refuse counts a refusal and returns its rate-limited log event.
func (g *connGuard) refuse(log *zerolog.Logger, r connRefusal, level zerolog.Level, ip netip.Addr) *zerolog.Event {
	g.refused[r].Add(1)
	return g.note(log, level, refusalNames[r], ip).Str("reason", refusalNames[r])
}

// handshakeRefused logs a connection an sv2 listener closed because its address already had
// its share of handshake slots and of the queue (the listener counts it).
func (g *connGuard) handshakeRefused(remote net.Addr) {
	g.note(&g.log, zerolog.WarnLevel, "handshake_queue_full", remoteIP(remote)).Str("remote", remote.String()).
		Str("reason", "handshake_queue_full").Int("handshake_slots_per_ip", g.cfg.HandshakeSlotsPerIP).
		Msg("miner connection refused: its address holds its share of SV2 handshake slots and queue")
}

func (g *connGuard) stats() ConnStats {
	g.mu.Lock()
	st := ConnStats{Open: g.open, Cap: g.cap, Refused: make(map[string]uint64, numRefusals+1), Closed: make(map[string]uint64, 2)}
	nls := append([]*noise.Listener(nil), g.noise...)
	g.mu.Unlock()
	for i, n := range refusalNames {
		st.Refused[n] = g.refused[i].Load()
	}
	st.Closed["setup_timeout"] = g.setupTimeouts.Load()
	var queueFull, hsTimeout uint64
	for _, l := range nls {
		s := l.Stats()
		queueFull += s.Refused
		hsTimeout += s.TimedOut
	}
	st.Refused["handshake_queue_full"] = queueFull
	st.Closed["handshake_timeout"] = hsTimeout
	return st
}

// noteGate remembers when a message was last logged for a key, so a retrying peer logs once a
// minute. It holds at most noteKeys keys; when that many were logged within the minute, new
// keys are not logged (counted only) until old ones expire.
type noteGate struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const (
	noteEvery = time.Minute
	noteKeys  = 1024
)

func (n *noteGate) allow(key string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if at, ok := n.seen[key]; ok && now.Sub(at) < noteEvery {
		return false
	}
	if len(n.seen) >= noteKeys {
		for k, at := range n.seen {
			if now.Sub(at) >= noteEvery {
				delete(n.seen, k)
			}
		}
		if len(n.seen) >= noteKeys {
			return false
		}
	}
	n.seen[key] = now
	return true
}

// guardedListener admits every connection its inner listener accepts through the connGuard,
// closing those over a limit; the ones it returns give their place back when closed.
type guardedListener struct {
	net.Listener
	g          *connGuard
	refuseLine []byte
	open       int // under g.mu
}

// Accept returns the next admitted connection.
func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		r, ok := l.g.admit(l, ip)
		if ok {
			return &trackedConn{Conn: c, l: l, ip: ip}, nil
		}
		l.g.refuse(&l.g.log, r, zerolog.WarnLevel, ip).Str("remote", c.RemoteAddr().String()).Str("listener", l.Addr().String()).Int("max_connections", l.g.cfg.MaxConnections).
			Int("max_connections_per_ip", l.g.cfg.MaxConnectionsPerIP).Int("max_stratum_connections", l.g.cap).
			Msg("miner connection refused: too many connections")
		if l.refuseLine != nil {
			// A fresh socket's send buffer is empty: this never waits on the peer.
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write(l.refuseLine)
		}
		c.Close()
	}
}

// trackedConn is an admitted connection; Close gives its place back once.
type trackedConn struct {
	net.Conn
	l    *guardedListener
	ip   netip.Addr
	done atomic.Bool
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	if c.done.CompareAndSwap(false, true) {
		c.l.g.release(c.l, c.ip)
	}
	return err
}

// refusedLineV1 is what a V1 miner refused over a connection limit reads before the close.
var refusedLineV1 = sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "Too many connections; try again later"))

// remoteIP is an address without its port (the zero Addr when it has none).
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// armSetup ends a connection's ctx (through cancel) if it is not ready when setup_timeout has
// passed since it was accepted: a V1 miner subscribed and authorized, an SV2 connection with a
// channel open.
func (p *Proxy) armSetup(ctx context.Context, cancel func(), remote net.Addr, log zerolog.Logger, ready func() bool) clock.Timer {
	d := p.cfg.Limits.SetupTimeout.D()
	return p.clk.AfterFunc(d, func() {
		if ctx.Err() != nil || ready() {
			return
		}
		g := p.guard
		g.setupTimeouts.Add(1)
		g.note(&log, zerolog.InfoLevel, "setup_timeout", remoteIP(remote)).Dur("setup_timeout", d).
			Msg("miner did not start mining within setup_timeout; closing")
		cancel()
	})
}

// ready reports whether a V1 miner has subscribed and authorized.
func (s *v1Conn) ready() bool {
	c := s.ch
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hasSlot && c.authorized
}

package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"sort"
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// A hand-over to a new hashgate process (an upgrade) cannot move a miner's session: its
// extranonce, jobs and difficulty live in this process. So the old process stops accepting
// (the new one owns the same listening sockets), then asks each miner to come back to the
// address it dialled, spread over a drain period so the fleet moves in a wave rather than a
// storm, and the new process takes them as new sessions.

// ReconnectGrace is how long a V1 miner told client.reconnect keeps its connection: miners
// that honour the message with no params (cgminer and its forks take an empty host as their
// own pool, ESP-Miner reconnects to its configured pool, Braiins OS) close it themselves at
// once; the others (the cpuminer family wants a host and a port) are closed after this, and
// reconnect on the lost connection. Shares they submit meanwhile are answered and recorded.
const ReconnectGrace = 2 * time.Second

// reconnectLine is client.reconnect with no params: "the same server" (sv1.md 3.11).
var reconnectLine, _ = sv1.AppendNotification(nil, &sv1.Reconnect{})

// ServeV1TLS accepts Stratum V1 miners over TLS on l, a listener made elsewhere (one handed
// over by the previous process), like ListenV1TLS.
func (p *Proxy) ServeV1TLS(l net.Listener, certFile, keyFile string) error {
	cf, err := loadCertFiles(certFile, keyFile, p.clk, p.log)
	if err != nil {
		return err
	}
	p.guard.noteTLS(l.Addr())
	p.serveV1(tls.NewListener(p.guard.listener(l, nil), &tls.Config{GetCertificate: cf.get}))
	return nil
}

// HasWork reports whether the active pool has sent a job miners can mine: a new process
// says it is ready only then, so the miners it takes over do not wait.
func (p *Proxy) HasWork() bool {
	a := p.activePool()
	if a == nil {
		return false
	}
	u := a.conn(0)
	return u != nil && u.current() != nil
}

// StopAccepting closes every miner listener and leaves the connected miners mining. A
// listener handed over to another process stays open there: new miners go to it.
func (p *Proxy) StopAccepting() {
	p.mu.Lock()
	ls := p.listeners
	p.listeners = nil
	p.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// PausedWorkers lists the workers whose gate is closed, sorted.
func (p *Proxy) PausedWorkers() []string {
	p.mu.Lock()
	out := make([]string, 0, len(p.paused))
	for w := range p.paused {
		out = append(out, w)
	}
	p.mu.Unlock()
	sort.Strings(out)
	return out
}

// Drain tells every connected V1 miner to reconnect, evenly spread over period, and returns
// once the last has been told and closed, or ctx ends. It returns how many were told. SV2
// channels are left to Close, which sends each connection Reconnect before closing it.
// Call StopAccepting first: a miner told to reconnect must reach the new process.
func (p *Proxy) Drain(ctx context.Context, period time.Duration) int {
	p.mu.Lock()
	var bye []func()
	for _, c := range p.channels {
		if c.bye != nil {
			bye = append(bye, c.bye)
		}
	}
	p.mu.Unlock()
	if len(bye) == 0 {
		return 0
	}
	step := period / time.Duration(len(bye))
	start := p.clk.Now()
	told := 0
	for i, f := range bye {
		// Each miner at its own time from the start, so late wake-ups on a busy box do not
		// add up over a large fleet.
		if wait := start.Add(time.Duration(i) * step).Sub(p.clk.Now()); i > 0 && wait > 0 && !p.sleep(ctx, wait) {
			return told
		}
		f()
		told++
	}
	// The last one told is closed after its grace.
	p.sleep(ctx, ReconnectGrace)
	return told
}

// sleep waits d on the proxy's clock; false when ctx ended first.
func (p *Proxy) sleep(ctx context.Context, d time.Duration) bool {
	ch := make(chan struct{})
	t := p.clk.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// sayReconnect is a V1 connection's part of a drain: client.reconnect now, closed after
// ReconnectGrace if the miner has not gone by itself.
func (s *v1Conn) sayReconnect() {
	s.send(reconnectLine)
	s.p.clk.AfterFunc(ReconnectGrace, s.kill)
}

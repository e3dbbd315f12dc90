package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/clock"

	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv2"
)

// maxMinerFrame caps the payload of one frame from an SV2 miner. The largest message a miner
// sends (SetupConnection, five STR0_255 fields) is under 1.3 KiB; a larger header ends the
// connection before anything is allocated for it.
const maxMinerFrame = 8 << 10

// ListenV2 listens on a TCP address for Stratum V2 miners, encrypted with Noise NX under the
// static key and the certificate its authority issued, and serves until Close. It returns the
// bound address (useful with port 0).
func (p *Proxy) ListenV2(addr string, static *noise.KeyPair, cert noise.Certificate) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := p.ServeV2(l, static, cert, nil); err != nil {
		l.Close()
		return nil, err
	}
	return l.Addr(), nil
}

// ServeV2 accepts SV2 miners on l in the background until Close. Handshakes run off the accept
// loop, bounded in number and time, so a peer that stalls its handshake delays nobody, and one
// remote address gets at most handshake_slots_per_ip of the slots. ncfg tunes them; nil means
// noise.DefaultConfig with [limits] handshake_slots and handshake_timeout, the proxy's logger
// and an 8 KiB frame cap. Connections count against [limits] from accept.
func (p *Proxy) ServeV2(l net.Listener, static *noise.KeyPair, cert noise.Certificate, ncfg *noise.Config) error {
	lim := p.cfg.Limits
	if ncfg == nil {
		ncfg = noise.DefaultConfig()
		ncfg.Logger = p.log
		ncfg.MaxPayload = maxMinerFrame
		ncfg.MaxHandshakes = lim.HandshakeSlots
		ncfg.HandshakeTimeout = lim.HandshakeTimeout.D()
	}
	fair := noise.Fairness{PerIP: lim.HandshakeSlotsPerIP, Backlog: 4 * ncfg.MaxHandshakes, Refused: p.guard.handshakeRefused}
	nl, err := noise.NewFairListener(p.guard.listener(l, nil), static, cert, ncfg, fair)
	if err != nil {
		return err
	}
	p.guard.addNoise(nl)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		nl.Close()
		return net.ErrClosed
	}
	p.listeners = append(p.listeners, nl)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := nl.AcceptConn()
			if err != nil {
				// The noise listener retries transient accept errors itself; an error here
				// means it is closed.
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serveMinerV2(c)
			}()
		}
	}()
	return nil
}

// okBatch accumulates accepted shares of one channel until they go out as one
// SubmitShares.Success (sv2-spec §5.3.14 allows batching).
type okBatch struct {
	vc    *v2Chan
	last  uint32
	count uint32
	sum   float64
}

// v2Conn is one SV2 miner connection, carrying any number of channels. Its one goroutine is
// the reader (serveMinerV2's); whoever produces frames writes them (output_v2.go).
type v2Conn struct {
	p      *Proxy
	nc     *noise.Conn
	raw    syscall.RawConn // for writes that never wait; nil: a flusher writes everything
	remote string
	// dead: kill ran; the connection is closing. stopKill unhooks kill from the proxy's
	// shutdown. setup is setup_timeout, reader-only, nil once a channel is open.
	dead     atomic.Bool
	stopKill func() bool
	setup    clock.Timer

	// reader-only
	setupDone bool
	flags     uint32
	agent     string
	strikes   int
	// nameLogged: a refused user_identity was logged; later ones are only answered.
	nameLogged bool

	// chans are the open channels, under mu: a device opens one or a few.
	mu     sync.Mutex
	chans  []*v2Chan
	nextID uint32

	// The output, all under outMu: plaintext frames waiting (while the reader holds replies
	// or a flusher owns the socket), acknowledgements not yet sent, and ciphertext the socket
	// did not take.
	outMu   sync.Mutex
	outq    [][]byte
	oks     []okBatch
	pending []byte
	writing bool // a flusher owns the socket
	holding bool // the reader is answering frames it already has: replies wait for it
	// outClosed: nothing more is written. closeAfter: the last frame is queued; flushed is
	// closed once it is written (or never will be).
	outClosed  bool
	closeAfter bool
	finalDone  bool
	flushed    chan struct{}
	// slow: the send queue overflowed and the miner is being disconnected; slowRepeats counts
	// the frames dropped after that, reported once when the connection ends.
	slow        bool
	slowRepeats int
	wg          sync.WaitGroup // the flusher, while one runs
}

// v2LogFields puts a connection's remote address on each of its log lines as the line is
// written: the connection keeps no logger of its own (112 bytes per miner), it makes one
// when it logs, which is rare.
type v2LogFields struct{ s *v2Conn }

func (h v2LogFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("remote", h.s.remote).Str("proto", "sv2")
}

// logger is the connection's logger, made for the line being logged. It is not inlined: a
// logger value in the reader's frame would keep its parked stack from shrinking (see
// awaitReadable).
//
//go:noinline
func (s *v2Conn) logger() *zerolog.Logger {
	l := s.p.log.Hook(v2LogFields{s})
	return &l
}

// v2Group is the group channel id every channel of a connection belongs to; channel ids
// start above it (they share one namespace, sv2-spec §5.2).
const v2Group = 1

// serveMinerV2 runs one SV2 connection on its reader goroutine. It is kept shallow, as is
// readLoop: the reader parks in its read with little of its stack used, so the garbage
// collector can shrink an idle miner's stack to 4 KiB.
func (p *Proxy) serveMinerV2(nc *noise.Conn) {
	s := p.openMinerV2(nc)
	defer s.end()
	s.readLoop()
}

// openMinerV2 sets a connection up: its log fields, socket options, the close on shutdown
// and setup_timeout.
func (p *Proxy) openMinerV2(nc *noise.Conn) *v2Conn {
	s := &v2Conn{
		p:      p,
		nc:     nc,
		raw:    rawConnOf(nc.NetConn()),
		remote: nc.RemoteAddr().String(),
		nextID: v2Group + 1,
	}
	if tc := tcpConn(nc.NetConn()); tc != nil {
		// As for V1: a miner that stops reading meets a full socket, and the slow-miner rule,
		// after 32 KiB rather than megabytes parked in the kernel.
		tc.SetWriteBuffer(minerSendBuffer)
	}
	s.stopKill = context.AfterFunc(p.ctx, s.kill)
	s.setup = p.armSetup(p.ctx, s.kill, nc.RemoteAddr(), *s.logger(), s.readyOrGone)
	return s
}

// kill closes the connection, which ends its reader and any write; it is idempotent. The
// close runs on its own goroutine, never on the caller's time (a fan-out worker, a pool
// verdict): it waits for the reader to leave its read. A proxy shutting down tells the
// miner to come back first.
func (s *v2Conn) kill() {
	if !s.dead.CompareAndSwap(false, true) {
		return
	}
	go func() {
		s.sayReconnect()
		s.nc.Close()
	}()
}

// readyOrGone is setup_timeout's test: nothing to do for a miner with a channel, or gone.
func (s *v2Conn) readyOrGone() bool { return s.dead.Load() || s.hasChannels() }

// end releases a connection whose reader returned (or crashed): the last frame, if one is
// queued, is written first.
func (s *v2Conn) end() {
	if r := recover(); r != nil {
		s.logger().Error().Interface("panic", r).Msg("miner session crashed; closing it")
	}
	s.outMu.Lock()
	flushed := s.flushed
	s.outMu.Unlock()
	if flushed != nil {
		t := time.NewTimer(s.p.cfg.WriteTimeout.D())
		select {
		case <-flushed:
		case <-t.C:
		}
		t.Stop()
	}
	s.kill()
	s.nc.Close() // here, on the reader's own time: the close is done before the channels go
	s.closeOutput()
	s.stopKill()
	if s.setup != nil {
		s.setup.Stop()
	}
	s.closeAll()
	s.outMu.Lock()
	dropped := s.slowRepeats
	s.outMu.Unlock()
	if dropped > 0 {
		s.logger().Info().Int("dropped_frames", dropped).Msg("slow miner gone; frames dropped after its send queue filled")
	}
	s.logger().Debug().Msg("miner disconnected")
}

func (s *v2Conn) readLoop() {
	for {
		if !s.setupDone {
			// SetupConnection must come promptly after the handshake.
			s.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		} else {
			s.nc.SetReadDeadline(time.Now().Add(15 * time.Minute))
		}
		s.awaitReadable()
		hdr, payload, err := s.nc.ReadFrame()
		if err != nil {
			switch {
			case errors.Is(err, noise.ErrFrameTooLarge):
				s.p.drops.oversizedLines.Add(1)
				s.logger().Warn().Int("max", maxMinerFrame).Msg("oversized frame from miner; closing")
			case errors.Is(err, noise.ErrDecrypt):
				s.p.drops.malformed.Add(1)
				s.logger().Warn().Msg("frame failed authentication; closing")
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), s.dead.Load():
			default:
				s.logger().Debug().Err(err).Msg("read from miner failed")
			}
			return
		}
		// Frames already received are answered together, in one write after the last.
		more := s.nc.Buffered() > 0
		if more {
			s.holdReplies()
		}
		h, _ := sv2.ParseHeader(hdr[:])
		m, err := sv2.DecodeMessage(h, payload)
		if err != nil {
			s.p.drops.malformed.Add(1)
			s.logger().Info().Err(err).Msg("malformed message from miner; closing")
			return
		}
		if err := s.handle(s.p.ctx, m); err != nil {
			s.logger().Info().Err(err).Msg("closing miner")
			return
		}
		if !more {
			s.releaseReplies()
		}
	}
}

func (s *v2Conn) hasChannels() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chans) > 0
}

func (s *v2Conn) snapshot(dst []*v2Chan) []*v2Chan {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, vc := range s.chans {
		dst = append(dst, vc)
	}
	return dst
}

// closeAll releases every channel of a connection that ended.
func (s *v2Conn) closeAll() {
	s.mu.Lock()
	chans := s.chans
	s.chans = nil
	s.mu.Unlock()
	for _, vc := range chans {
		s.p.removeChannel(vc.ch)
	}
}

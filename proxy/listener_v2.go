package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

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

// okBatch accumulates accepted shares of one channel until the writer sends them as one
// SubmitShares.Success (sv2-spec §5.3.14 allows batching).
type okBatch struct {
	last  uint32
	count uint32
	sum   float64
}

// v2Conn is one SV2 miner connection: one reader goroutine (serveMinerV2's) and one writer
// goroutine, carrying any number of channels.
type v2Conn struct {
	p      *Proxy
	nc     *noise.Conn
	log    zerolog.Logger
	remote string
	cancel context.CancelFunc

	// reader-only
	setupDone bool
	flags     uint32
	agent     string
	strikes   int
	// nameLogged: a refused user_identity was logged; later ones are only answered.
	nameLogged bool

	mu     sync.Mutex
	chans  map[uint32]*v2Chan
	nextID uint32

	outMu      sync.Mutex
	outq       [][]byte
	oks        map[*v2Chan]*okBatch
	closeAfter bool
	wake       chan struct{}
	// slow: the send queue overflowed and the miner is being disconnected; slowRepeats counts
	// the frames dropped after that, reported once when the connection ends. Both under outMu.
	slow        bool
	slowRepeats int
}

// v2Group is the group channel id every channel of a connection belongs to; channel ids
// start above it (they share one namespace, sv2-spec §5.2).
const v2Group = 1

func (p *Proxy) serveMinerV2(nc *noise.Conn) {
	ctx, cancel := context.WithCancel(p.ctx)
	s := &v2Conn{
		p:      p,
		nc:     nc,
		remote: nc.RemoteAddr().String(),
		cancel: cancel,
		chans:  map[uint32]*v2Chan{},
		nextID: v2Group + 1,
		oks:    map[*v2Chan]*okBatch{},
		wake:   make(chan struct{}, 1),
	}
	s.log = p.log.With().Str("remote", s.remote).Str("proto", "sv2").Logger()
	setup := p.armSetup(ctx, cancel, nc.RemoteAddr(), s.log, s.hasChannels)
	defer setup.Stop()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ctx)
	}()
	// Closing unblocks the reader; the writer may still say Reconnect first. AfterFunc keeps
	// no goroutine per idle connection.
	stopClose := context.AfterFunc(ctx, func() {
		<-writerDone
		nc.Close()
	})
	defer stopClose()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Msg("miner session crashed; closing it")
		}
		s.outMu.Lock()
		closing := s.closeAfter
		s.outMu.Unlock()
		if closing {
			// Let the writer deliver the last frame (the error that ends the connection)
			// before cancel: a writer that saw both at once could pick the cancel.
			select {
			case <-writerDone:
			case <-time.After(s.p.cfg.WriteTimeout.D()):
			}
		}
		cancel()
		<-writerDone
		nc.Close()
		s.closeAll()
		s.outMu.Lock()
		dropped := s.slowRepeats
		s.outMu.Unlock()
		if dropped > 0 {
			s.log.Info().Int("dropped_frames", dropped).Msg("slow miner gone; frames dropped after its send queue filled")
		}
		s.log.Debug().Msg("miner disconnected")
	}()
	s.readLoop(ctx)
}

func (s *v2Conn) readLoop(ctx context.Context) {
	for {
		if !s.setupDone {
			// SetupConnection must come promptly after the handshake.
			s.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		} else {
			s.nc.SetReadDeadline(time.Now().Add(15 * time.Minute))
		}
		hdr, payload, err := s.nc.ReadFrame()
		if err != nil {
			switch {
			case errors.Is(err, noise.ErrFrameTooLarge):
				s.p.drops.oversizedLines.Add(1)
				s.log.Warn().Int("max", maxMinerFrame).Msg("oversized frame from miner; closing")
			case errors.Is(err, noise.ErrDecrypt):
				s.p.drops.malformed.Add(1)
				s.log.Warn().Msg("frame failed authentication; closing")
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), ctx.Err() != nil:
			default:
				s.log.Debug().Err(err).Msg("read from miner failed")
			}
			return
		}
		h, _ := sv2.ParseHeader(hdr[:])
		m, err := sv2.DecodeMessage(h, payload)
		if err != nil {
			s.p.drops.malformed.Add(1)
			s.log.Info().Err(err).Msg("malformed message from miner; closing")
			return
		}
		if err := s.handle(ctx, m); err != nil {
			s.log.Info().Err(err).Msg("closing miner")
			return
		}
	}
}

// send queues an encoded frame. A miner whose queue is full is not reading: it is
// disconnected (the named drop policy), so it can neither hold memory nor delay anyone. That is
// counted and logged once; frames still coming are dropped and counted for the connection's
// last log line.
func (s *v2Conn) send(m sv2.Message) {
	b, err := sv2.AppendFrame(nil, m)
	if err != nil {
		s.log.Error().Err(err).Msg("encoding a frame for a miner")
		return
	}
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
			s.log.Warn().Int("send_queue", s.p.cfg.SendQueue).Msg("miner is not reading; disconnecting")
			s.cancel()
		}
		return
	}
	s.outq = append(s.outq, b)
	s.outMu.Unlock()
	s.signal()
}

// sendAndClose queues a last frame and ends the connection once it is written.
func (s *v2Conn) sendAndClose(m sv2.Message) {
	b, err := sv2.AppendFrame(nil, m)
	s.outMu.Lock()
	if err == nil {
		s.outq = append(s.outq, b)
	}
	s.closeAfter = true
	s.outMu.Unlock()
	s.signal()
}

// accepted adds an accepted share to its channel's pending Success.
func (s *v2Conn) accepted(vc *v2Chan, seq uint32, diff float64) {
	s.outMu.Lock()
	b := s.oks[vc]
	if b == nil {
		b = &okBatch{}
		s.oks[vc] = b
	}
	// SubmitShares.Success acknowledges everything up to last_sequence_number: it only moves
	// forward (mod 2^32), even when a forwarded share's verdict arrives after later shares.
	if !vc.ackSet || int32(seq-vc.ackHW) > 0 {
		vc.ackHW, vc.ackSet = seq, true
	}
	b.last = vc.ackHW
	b.count++
	b.sum += diff
	s.outMu.Unlock()
	s.signal()
}

func (s *v2Conn) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *v2Conn) writeLoop(ctx context.Context) {
	var (
		buf   []byte
		spare [][]byte
		chans []*v2Chan
	)
	for {
		select {
		case <-ctx.Done():
			s.sayReconnect()
			return
		case <-s.wake:
		}
		s.outMu.Lock()
		q := s.outq
		s.outq = spare[:0]
		var oks map[*v2Chan]*okBatch
		if len(s.oks) > 0 {
			oks, s.oks = s.oks, map[*v2Chan]*okBatch{}
		}
		closeAfter := s.closeAfter
		s.outMu.Unlock()

		buf = buf[:0]
		for _, b := range q {
			buf = append(buf, b...)
		}
		for vc, b := range oks {
			buf, _ = sv2.AppendFrame(buf, &sv2.SubmitSharesSuccess{
				ChannelID: vc.id, LastSequenceNumber: b.last, NewSubmitsAcceptedCount: b.count, NewSharesSum: uint64(b.sum),
			})
		}
		if !closeAfter {
			chans = s.snapshot(chans[:0])
			for _, vc := range chans {
				if pj, flags := vc.ch.takeOffer(); pj != nil {
					buf = s.appendJob(buf, vc, pj, flags)
				}
			}
		}
		clear(q)
		spare = q
		if len(buf) > 0 {
			s.nc.SetWriteDeadline(time.Now().Add(s.p.cfg.WriteTimeout.D()))
			if _, err := s.nc.Write(buf); err != nil {
				if ctx.Err() == nil {
					s.log.Info().Err(err).Msg("write to miner failed; disconnecting")
				}
				s.cancel()
				return
			}
		}
		if closeAfter {
			s.cancel()
			return
		}
		if cap(buf) > 256<<10 {
			buf = nil // one huge burst should not pin memory for the connection's life
		}
	}
}

// sayReconnect tells a miner of a proxy that is shutting down to come back to the same
// address (empty host, port 0: sv2-spec §3.6.5), so it does not wait out its own backoff.
func (s *v2Conn) sayReconnect() {
	if s.p.ctx.Err() == nil || !s.hasChannels() {
		return
	}
	b, err := sv2.AppendFrame(nil, &sv2.Reconnect{})
	if err != nil {
		return
	}
	s.nc.SetWriteDeadline(time.Now().Add(time.Second))
	s.nc.Write(b)
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
	s.chans = map[uint32]*v2Chan{}
	s.mu.Unlock()
	for _, vc := range chans {
		s.p.removeChannel(vc.ch)
	}
}

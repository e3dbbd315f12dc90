package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// maxRequest caps one request of the cgminer-style TCP APIs.
const maxRequest = 64 << 10

// tcpHandler answers one request; the reply is written followed by NUL and
// the connection closed, as cgminer-family firmware does.
type tcpHandler func(req []byte, remote net.Addr) []byte

// tcpServer is a one-request-per-connection server.
type tcpServer struct {
	miner  *Miner
	handle tcpHandler
	log    zerolog.Logger

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (s *tcpServer) listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, net.ErrClosed
	}
	s.ln = ln
	s.conns = make(map[net.Conn]struct{})
	s.mu.Unlock()
	s.wg.Go(func() { s.accept(ln) })
	return ln.Addr(), nil
}

func (s *tcpServer) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn().Err(err).Msg("sim accept failed")
			}
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
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *tcpServer) serve(c net.Conn) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Msg("sim handler panicked")
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	// Requests carry no terminator: read exactly one JSON value.
	var raw json.RawMessage
	dec := json.NewDecoder(io.LimitReader(c, maxRequest))
	req := []byte(nil)
	if err := dec.Decode(&raw); err == nil {
		req = raw
	}
	if s.miner.has(FaultStall) {
		// Hold the connection until the client gives up or we close.
		_, _ = io.Copy(io.Discard, c)
		return
	}
	var reply []byte
	if s.miner.has(FaultGarbage) {
		reply = []byte(`{"STATUS":[{"STATUS":"S","Msg":`)
	} else {
		reply = s.handle(req, c.RemoteAddr())
	}
	_, _ = c.Write(append(bytes.Clone(reply), 0))
}

// close stops the listener and every open connection, then waits.
func (s *tcpServer) close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// Miners point at the wrong port more often than they send bad JSON: bfgminer tries TLS
// first, an SV2 device may be given a V1 address, an operator opens the port in a browser.
// Such a peer gets one clear log line (once a minute per address) and is closed, instead of
// a parse error per chunk it sends.

// peerKind is what a connection's first bytes say the peer speaks.
type peerKind uint8

const (
	peerV1     peerKind = iota // JSON, or too little to tell: the line reader decides
	peerTLS                    // a TLS handshake record (0x16): a ClientHello
	peerHTTP                   // an HTTP request line
	peerBinary                 // a control or high byte no JSON starts with: SV2 Noise, say
)

var httpMethods = [][]byte{[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "), []byte("OPTIONS "),
	[]byte("DELETE "), []byte("PATCH "), []byte("CONNECT "), []byte("PRI * HTTP/2")}

// sniffKind classifies the first bytes read from a plain V1 connection.
func sniffKind(b []byte) peerKind {
	if len(b) == 0 {
		return peerV1
	}
	switch c := b[0]; {
	case c == 0x16:
		return peerTLS
	case c == '\t' || c == '\n' || c == '\r':
		return peerV1
	case c < 0x20 || c >= 0x7f:
		return peerBinary
	}
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, m) {
			return peerHTTP
		}
	}
	return peerV1
}

// sniffBytes is how much of a connection's start is read to classify it: enough for the
// longest HTTP method, little enough to live on the stack of any miner.
const sniffBytes = 16

var (
	httpAnswer = []byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" +
		"This is a Stratum V1 mining port (stratum+tcp://), not a web server.\r\n")
	plainOnTLSLine = sv1.AppendErrorResponse(nil, nil, sv1.NewError(codeOther, "This port speaks Stratum over TLS (stratum+ssl://)"))
)

// openV1 starts a V1 connection: on a stratum+ssl port it runs the TLS handshake, on a plain
// port it reads the first bytes and turns away a peer that speaks another protocol. head is
// what was read, for the line reader; ok is false when the connection must close. ctx ends
// with setup_timeout.
func (p *Proxy) openV1(ctx context.Context, nc net.Conn, log zerolog.Logger) (head []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			log.Error().Interface("panic", r).Msg("opening a miner connection crashed; closing it")
			head, ok = nil, false
		}
	}()
	g := p.guard
	ip := remoteIP(nc.RemoteAddr())
	if tc, isTLS := nc.(*tls.Conn); isTLS {
		err := tc.HandshakeContext(ctx)
		if err == nil {
			return nil, true
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil {
			// Not TLS at all: most likely a miner set to stratum+tcp. Tell it in its language.
			g.refuse(&log, refusePlainOnTLS, zerolog.WarnLevel, ip).Str("listener", nc.LocalAddr().String()).
				Msg("plain Stratum on a stratum+ssl port; point the miner at a stratum+tcp listener")
			rh.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			rh.Conn.Write(plainOnTLSLine)
			lingerClose(rh.Conn)
			return nil, false
		}
		if ctx.Err() == nil {
			log.Debug().Err(err).Msg("TLS handshake with miner failed")
		}
		return nil, false
	}
	var buf [sniffBytes]byte
	n, err := nc.Read(buf[:])
	if n == 0 {
		if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
			log.Debug().Err(err).Msg("read from miner failed")
		}
		return nil, false
	}
	switch sniffKind(buf[:n]) {
	case peerTLS:
		g.refuse(&log, refuseTLSOnPlain, zerolog.WarnLevel, ip).Str("listener", nc.LocalAddr().String()).Str("stratum_ssl", g.tlsListeners()).
			Msg("TLS ClientHello on a plain stratum port; use the stratum+ssl listener")
		return nil, false
	case peerHTTP:
		g.refuse(&log, refuseHTTPOnPlain, zerolog.InfoLevel, ip).Str("listener", nc.LocalAddr().String()).
			Msg("HTTP request on a stratum port; answered 400 and closed")
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(httpAnswer)
		lingerClose(nc)
		return nil, false
	case peerBinary:
		g.refuse(&log, refuseBinary, zerolog.InfoLevel, ip).Str("listener", nc.LocalAddr().String()).
			Msg("binary data on a Stratum V1 port (a Stratum V2 miner belongs on an sv2 listener); closed")
		return nil, false
	}
	return append([]byte(nil), buf[:n]...), true
}

// tcpConn is the TCP connection under c (through TLS and the connection guard), or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case *tls.Conn:
			c = x.NetConn()
		case *trackedConn:
			c = x.Conn
		default:
			return nil
		}
	}
}

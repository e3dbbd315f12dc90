package firmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// CgminerStatus is the STATUS object of the cgminer-family API that LuxOS
// and Whatsminer inherit: STATUS is "S" (success), "I" (info), "W"
// (warning), "E" (error) or "F" (fatal).
type CgminerStatus struct {
	Status      string `json:"STATUS"`
	When        int64  `json:"When"`
	Code        int    `json:"Code"`
	Msg         string `json:"Msg"`
	Description string `json:"Description"`
}

// OK reports a success or informational status.
func (s CgminerStatus) OK() bool { return s.Status == "S" || s.Status == "I" }

// CgminerRequest is one command of the cgminer JSON API. Several parameters
// are joined with commas, as the API expects.
type CgminerRequest struct {
	Command   string `json:"command"`
	Parameter string `json:"parameter,omitempty"`
}

// tcpExchange sends one request on a fresh connection and reads the reply
// up to a NUL byte or the peer's close, as the cgminer API does: one
// command per connection, the miner closes after answering. The reply is
// the caller's to keep.
func tcpExchange(ctx context.Context, cfg *Config, addr string, req []byte) ([]byte, error) {
	return tcpExchangeAppend(ctx, cfg, addr, req, nil)
}

// tcpExchangeAppend is tcpExchange reading the reply into buf[:0], so a
// caller that decodes the reply at once can reuse its buffer (replyBufs).
//
// Telemetry makes this exchange 1,000 times a second for 10,000 miners
// polled every 10 s. It turns TCP keep-alive off (four setsockopt calls
// for a connection that lives milliseconds) and closes with SO_LINGER 0.
// With the default close, a proxy whose close beats the miner's FIN holds
// the connection in TIME_WAIT for 60 s: up to 60,000 sockets at that rate,
// each ephemeral port tied to its miner for a minute. The abortive close
// sends RST instead and leaves no TIME_WAIT on either side. It is safe
// here because nothing is left to lose: the miner has read the request (it
// answered) and we have read its reply to the terminator. A failed
// exchange is closed the same way.
func tcpExchangeAppend(ctx context.Context, cfg *Config, addr string, req, buf []byte) ([]byte, error) {
	conn, err := dialTCP(ctx, cfg, addr)
	if err != nil {
		return nil, netErr(err)
	}
	defer func() {
		_ = conn.SetLinger(0)
		_ = conn.Close()
	}()
	deadline := time.Now().Add(cfg.IOTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// A cancelled context unblocks the read at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(req); err != nil {
		return nil, ctxOr(ctx, netErr(err))
	}
	reply, err := appendReply(buf[:0], conn, cfg.MaxReplyBytes)
	if err != nil {
		return nil, ctxOr(ctx, netErr(err))
	}
	return reply, nil
}

// dialTCP connects to addr without TCP keep-alive. It goes through
// DialContext, whose resolver returns an IP literal as it stands:
// Dialer.DialTCP with a zero local address binds the socket to port 0
// before connecting (golang/go#81620), a search of the whole port table
// that cost more than the rest of the exchange.
func dialTCP(ctx context.Context, cfg *Config, addr string) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// ctxOr prefers the context's error, so a cancelled dispatch is reported as
// cancelled rather than as an I/O timeout.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return netErr(ctx.Err())
	}
	return err
}

// errReplyTooLarge is returned when a miner sends more than MaxReplyBytes.
var errReplyTooLarge = errors.New("reply exceeds size cap")

// replyBufs holds reply buffers for callers that are done with a reply
// once they have decoded it; see putReplyBuf.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledReply keeps a rare huge reply's buffer out of replyBufs.
const maxPooledReply = 64 << 10

// getReplyBuf returns an empty buffer from replyBufs.
func getReplyBuf() *[]byte { return replyBufs.Get().(*[]byte) }

// putReplyBuf returns b to replyBufs holding reply, which may have been
// grown from *b; nothing may refer to reply afterwards.
func putReplyBuf(b *[]byte, reply []byte) {
	if reply != nil {
		*b = reply
	}
	if cap(*b) > maxPooledReply {
		return
	}
	*b = (*b)[:0]
	replyBufs.Put(b)
}

// readReply reads until NUL or EOF, never more than limit bytes.
func readReply(r io.Reader, limit int) ([]byte, error) {
	return appendReply(make([]byte, 0, 4096), r, limit)
}

// appendReply is readReply appending to buf, into its free capacity
// first. It never asks r for more than one byte beyond limit, so a reply of
// limit bytes and its NUL are accepted and a longer one fails without
// being buffered.
func appendReply(buf []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(buf)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 4096)
		}
		free := buf[len(buf):cap(buf)]
		if room := limit + 1 - (len(buf) - start); len(free) > room {
			free = free[:room]
		}
		n, err := r.Read(free)
		if n > 0 {
			if i := bytes.IndexByte(free[:n], 0); i >= 0 {
				return buf[:len(buf)+i], nil
			}
			buf = buf[:len(buf)+n]
			if len(buf)-start > limit {
				return nil, fmt.Errorf("%w: %w", ErrProtocol, errReplyTooLarge)
			}
		}
		if err == io.EOF {
			if len(buf) == start {
				return nil, fmt.Errorf("%w: empty reply", ErrProtocol)
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

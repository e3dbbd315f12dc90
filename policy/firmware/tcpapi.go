package firmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
// command per connection, the miner closes after answering.
func tcpExchange(ctx context.Context, cfg *Config, addr string, req []byte) ([]byte, error) {
	d := net.Dialer{Timeout: cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, netErr(err)
	}
	defer conn.Close()
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
	reply, err := readReply(conn, cfg.MaxReplyBytes)
	if err != nil {
		return nil, ctxOr(ctx, netErr(err))
	}
	return reply, nil
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

// readReply reads until NUL or EOF, never more than max bytes.
func readReply(r io.Reader, max int) ([]byte, error) {
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			if i := bytes.IndexByte(chunk[:n], 0); i >= 0 {
				buf = append(buf, chunk[:i]...)
				return buf, nil
			}
			if len(buf)+n > max {
				return nil, fmt.Errorf("%w: %w", ErrProtocol, errReplyTooLarge)
			}
			buf = append(buf, chunk[:n]...)
		}
		if err == io.EOF {
			if len(buf) == 0 {
				return nil, fmt.Errorf("%w: empty reply", ErrProtocol)
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

package proxy

import (
	"bufio"
	"context"
	"math/rand/v2"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// reconnectLoop runs session until the proxy closes, reconnecting after each loss with
// exponential backoff and full jitter (a fleet of proxies restarting together must not hammer
// the pool in step). A session that lasted over a minute resets the backoff.
func reconnectLoop(p *Proxy, log zerolog.Logger, session func() error) {
	backoff := p.cfg.BackoffMin.D()
	for p.ctx.Err() == nil {
		start := p.clk.Now()
		err := session()
		if p.ctx.Err() != nil {
			return
		}
		if p.clk.Now().Sub(start) > time.Minute {
			backoff = p.cfg.BackoffMin.D()
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		log.Warn().Err(err).Dur("retry_in", wait).Msg("pool connection lost")
		select {
		case <-p.ctx.Done():
			return
		case <-afterChan(p, wait):
		}
		backoff = min(2*backoff, p.cfg.BackoffMax.D())
	}
}

// runWriter starts an upstream connection's writer and arranges the end of its session: when
// ctx ends the connection closes, which unblocks the session's reader. The returned stop ends
// the session, waits for the writer and then runs teardown.
func runWriter(ctx context.Context, cancel context.CancelFunc, conn net.Conn, out <-chan []byte, size int, timeout time.Duration, teardown func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		drainWrite(ctx, conn, out, size, timeout)
	}()
	stopClose := context.AfterFunc(ctx, func() { conn.Close() })
	return func() {
		cancel()
		stopClose()
		conn.Close()
		<-done
		teardown()
	}
}

// drainWrite is an upstream connection's writer: it writes what is queued, drains whatever
// else is queued behind it, then flushes once, so a burst of submits costs one write. A write
// that fails or passes its deadline closes the connection, which ends the session's reader.
func drainWrite(ctx context.Context, conn net.Conn, out <-chan []byte, size int, timeout time.Duration) {
	bw := bufio.NewWriterSize(conn, size)
	for {
		var b []byte
		select {
		case <-ctx.Done():
			return
		case b = <-out:
		}
		conn.SetWriteDeadline(time.Now().Add(timeout))
		bw.Write(b)
	drain:
		for {
			select {
			case b = <-out:
				bw.Write(b)
			default:
				break drain
			}
		}
		if err := bw.Flush(); err != nil {
			conn.Close()
			return
		}
	}
}

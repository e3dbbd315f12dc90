package proxy

import (
	"bufio"
	"context"
	"math/rand/v2"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// reconnectLoop runs session until ctx (the pool's: it ends when the proxy closes or the pool is
// removed or redialled by a console edit) ends. A session that carried work for
// healthySession was the pool working: its loss is a drop (a restart, a load balancer, a
// pool shedding clients under load), and the connection is made again at once so the
// pool's work and its shares come back without a pause. Sessions that fail sooner are
// retried with exponential backoff and full jitter up to backoff_max (a fleet of proxies
// restarting together must not hammer the pool in step). session returns how long it had
// work (0: never) and why it ended.
func reconnectLoop(ctx context.Context, p *Proxy, log zerolog.Logger, session func() (time.Duration, error)) {
	backoff := p.cfg.BackoffMin.D()
	for ctx.Err() == nil {
		upFor, err := session()
		if ctx.Err() != nil {
			return
		}
		if upFor >= healthySession {
			backoff = p.cfg.BackoffMin.D()
			log.Warn().Err(err).Int64("up_for_ms", upFor.Milliseconds()).Int64("retry_in_ms", 0).Msg("pool connection lost")
			continue
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		log.Warn().Err(err).Int64("up_for_ms", upFor.Milliseconds()).Int64("retry_in_ms", wait.Milliseconds()).Msg("pool connection lost")
		select {
		case <-ctx.Done():
			return
		case <-afterChan(p, wait):
		}
		backoff = min(2*backoff, p.cfg.BackoffMax.D())
	}
}

// healthySession is how long a session must have carried work for its loss to be a drop
// rather than a failure: reconnected at once, backoff reset.
const healthySession = 10 * time.Second

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

package proxy

import (
	"bufio"
	"context"
	"net"
	"time"
)

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

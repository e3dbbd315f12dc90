package main

import (
	"bytes"
	"net"
	"sync/atomic"

	"github.com/hashgate/hashgate/sim/loadfleet"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// submitTap watches the pool's side of the upstream connection: every mining.submit line the
// pool reads is timestamped when its bytes arrive and matched against the fleet's tracked
// shares, giving the latency the proxy added to that share.
type submitTap struct {
	now     func() int64 // the fleet's clock
	tracker *loadfleet.Tracker
	hist    loadfleet.Histogram

	submits, matched, unmatched, malformed atomic.Uint64
}

// tapMaxLine bounds the partial line a tapped connection keeps between reads.
const tapMaxLine = 256 << 10

var submitMethod = []byte(`"` + sv1.MethodSubmit + `"`)

// listener wraps l so that every accepted connection is tapped.
func (t *submitTap) listener(l net.Listener) net.Listener { return &tapListener{Listener: l, tap: t} }

type tapListener struct {
	net.Listener
	tap *submitTap
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, tap: l.tap}, nil
}

// tapConn passes reads through and looks at the bytes on the way. Only the pool's reader
// goroutine calls Read, so its state needs no lock.
type tapConn struct {
	net.Conn
	tap     *submitTap
	partial []byte
	skip    bool // inside a line longer than tapMaxLine
	msg     sv1.Message
	sub     sv1.Submit
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.observe(p[:n], c.tap.now())
	}
	return n, err
}

// observe frames b into lines (carrying a partial line over) and matches the submits; every
// line completed by this read arrived at `at`.
func (c *tapConn) observe(b []byte, at int64) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if !c.skip {
				if len(c.partial)+len(b) > tapMaxLine {
					c.partial, c.skip = c.partial[:0], true
				} else {
					c.partial = append(c.partial, b...)
				}
			}
			return
		}
		line := b[:i]
		if len(c.partial) > 0 {
			c.partial = append(c.partial, line...)
			line = c.partial
		}
		if !c.skip {
			c.tap.match(line, at, &c.msg, &c.sub)
		}
		c.partial, c.skip = c.partial[:0], false
		b = b[i+1:]
	}
}

// match records the added latency of one line if it is a tracked submit. msg and sub are the
// caller's scratch values.
func (t *submitTap) match(line []byte, at int64, msg *sv1.Message, sub *sv1.Submit) {
	if !bytes.Contains(line, submitMethod) {
		return
	}
	if sv1.DecodeInto(msg, line) != nil {
		t.malformed.Add(1)
		return
	}
	if msg.Method != sv1.MethodSubmit {
		return // the word appeared elsewhere in the line
	}
	if msg.UnmarshalParams(sub) != nil {
		t.malformed.Add(1)
		return
	}
	t.submits.Add(1)
	sent, ok := t.tracker.Take(loadfleet.NewKey(sub.Nonce, sub.Extranonce2))
	if !ok {
		t.unmatched.Add(1)
		return
	}
	t.matched.Add(1)
	t.hist.Record(durationNs(at - sent))
}

package noise

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// dialFrom connects to addr from a chosen loopback address (all of 127/8 is loopback on
// Linux), so one test can play several hosts.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitStats(t *testing.T, l *Listener, what string, ok func(ListenerStats) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(l.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, l.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedSoon reports whether the listener closed c (EOF or reset) before a generous deadline
// that only guards against a hang.
func closedSoon(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, c)
	ne, timeout := err.(net.Error)
	return !(timeout && ne.Timeout())
}

// TestFairListenerSilentHostCannotLockOthersOut: one host opens twenty connections and says
// nothing. It holds its two slots of four, two more of its connections wait, the rest are
// closed at once; a miner from another address still completes its handshake at once, and a
// waiting connection of the silent host gets a slot when one of its running ones ends.
func TestFairListenerSilentHostCannotLockOthersOut(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHandshakes = 4
	cfg.HandshakeTimeout = 10 * time.Minute // the silent ones would hold their slots all test long
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ident := testIdentity(t)
	l, err := NewFairListener(inner, ident.static, ident.cert, cfg, Fairness{PerIP: 2, Backlog: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	addr := l.Addr().String()

	var silent []net.Conn
	for range 20 {
		silent = append(silent, dialFrom(t, "127.0.0.1", addr))
		// One at a time, so the accept order is the dial order.
		n := uint64(len(silent))
		waitStats(t, l, "the connection accepted", func(s ListenerStats) bool { return s.Accepted == n })
	}
	// Two run, two wait (half the backlog), sixteen are refused.
	waitStats(t, l, "refusals", func(s ListenerStats) bool { return s.Refused == 16 })
	for i, c := range silent[4:] {
		if !closedSoon(c) {
			t.Fatalf("refused connection %d still open", i+4)
		}
	}

	accepted := make(chan *Conn, 2)
	go func() {
		for {
			c, err := l.AcceptConn()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	ccfg := testConfig()
	ccfg.HandshakeTimeout = 0
	other := dialFrom(t, "127.0.0.2", addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		other.SetDeadline(time.Now().Add(30 * time.Second))
		_, err := Client(other, ident.authority.PublicKey(), ccfg)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("another host's handshake: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("another host could not handshake while one host held its slots")
	}
	(<-accepted).Close()

	// The silent host's first connection goes; its first waiting one (the third) gets the
	// slot and, speaking now, completes.
	silent[0].Close()
	waitStats(t, l, "the closed handshake to fail", func(s ListenerStats) bool { return s.Failed == 1 })
	go func() {
		silent[2].SetDeadline(time.Now().Add(30 * time.Second))
		_, err := Client(silent[2], ident.authority.PublicKey(), ccfg)
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("waiting connection's handshake after its turn came: %v", err)
	}
	(<-accepted).Close()
	if st := l.Stats(); st.Completed != 2 || st.Refused != 16 || st.TimedOut != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFairListenerWaitIsBounded: a connection that has waited a whole HandshakeTimeout for a
// slot is closed when its turn comes instead of starting a handshake; the next one, which has
// not, starts. One slot: a runs silent; b and c wait with their act 1 sent. b is made to have
// waited an hour (its arrival time set back: the test does not sleep), then a goes.
func TestFairListenerWaitIsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHandshakes = 1
	cfg.HandshakeTimeout = time.Minute
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ident := testIdentity(t)
	l, err := NewFairListener(inner, ident.static, ident.cert, cfg, Fairness{PerIP: 1, Backlog: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var conns []net.Conn
	for i := range 3 {
		conns = append(conns, dialFrom(t, "127.0.0.1", l.Addr().String()))
		waitStats(t, l, "the connection accepted", func(s ListenerStats) bool { return s.Accepted == uint64(i+1) })
	}
	a, b, c := conns[0], conns[1], conns[2]
	for _, w := range []net.Conn{b, c} {
		in, err := NewInitiator(ident.authority.PublicKey(), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		act1, err := in.Act1()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(act1[:]); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	st := l.byAddr[netip.MustParseAddr("127.0.0.1")]
	if st == nil || st.running != 1 || len(st.waiting) != 2 {
		l.mu.Unlock()
		t.Fatalf("want one running and two waiting, got %+v", st)
	}
	st.waiting[0].at = time.Now().Add(-time.Hour)
	l.mu.Unlock()

	a.Close()
	b.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, _ := io.Copy(io.Discard, b); n != 0 {
		t.Fatalf("a connection that waited past the timeout got %d bytes of handshake", n)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var act2 [Act2Size]byte
	if _, err := io.ReadFull(c, act2[:]); err != nil {
		t.Fatalf("the next waiting connection got no handshake: %v", err)
	}
	waitStats(t, l, "the handshakes done", func(s ListenerStats) bool { return s.Completed == 1 })
	if st := l.Stats(); st.Failed != 1 || st.TimedOut != 1 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

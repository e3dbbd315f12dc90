package noise

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func newTestListener(t *testing.T, cfg *Config) *Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ident := testIdentity(t)
	l, err := NewListener(inner, ident.static, ident.cert, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestListenerStalledHandshake: a peer that connects and sends nothing
// holds one handshake slot until HandshakeTimeout, while a good client
// still gets through; the stalled peer is then disconnected.
func TestListenerStalledHandshake(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHandshakes = 2
	// The good client's handshake starts only when a stalled one's slot frees, and it runs
	// under the same bound: 300 ms cut it off on a loaded box under -race.
	cfg.HandshakeTimeout = 5 * time.Second
	l := newTestListener(t, cfg)

	stalled, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	// A second stalled peer that sent half of act 1.
	half, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write(make([]byte, 32))

	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.AcceptConn()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	ccfg := testConfig()
	ccfg.HandshakeTimeout = 0 // the client waits as long as the listener needs
	client, err := Dial(context.Background(), "tcp", l.Addr().String(), testIdentity(t).authority.PublicKey(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	defer server.Close()

	if err := client.WriteFrame(header(0, 0, 3), []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := server.ReadFrame(); err != nil || !bytes.Equal(p, []byte("abc")) {
		t.Fatalf("read %q %v", p, err)
	}

	// The listener ends both stalled handshakes at their deadline.
	for _, c := range []net.Conn{stalled, half} {
		if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
			t.Errorf("stalled peer: read %d bytes, %v", n, err)
		}
	}
	// Counters are updated before the connection is closed.
	if st := l.Stats(); st.Accepted != 3 || st.Completed != 1 || st.TimedOut != 2 || st.Failed != 0 {
		t.Errorf("stats %+v", l.Stats())
	}
}

// TestListenerBadClient: garbage for act 1 and a client pinning another
// authority fail their handshakes without disturbing the listener.
func TestListenerBadClient(t *testing.T) {
	l := newTestListener(t, testConfig())
	other, _ := GenerateAuthority(nil)
	_, err := Dial(context.Background(), "tcp", l.Addr().String(), other.PublicKey(), testConfig())
	if !errors.Is(err, ErrBadCertificate) {
		t.Errorf("wrong authority: %v", err)
	}
	expired := testConfig()
	expired.Now = func() time.Time { return testNow.AddDate(2, 0, 0) }
	_, err = Dial(context.Background(), "tcp", l.Addr().String(), testIdentity(t).authority.PublicKey(), expired)
	if !errors.Is(err, ErrCertificateExpired) {
		t.Errorf("expired: %v", err)
	}

	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
	}()
	c, err := Dial(context.Background(), "tcp", l.Addr().String(), testIdentity(t).authority.PublicKey(), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestListenerClose(t *testing.T) {
	l := newTestListener(t, testConfig())
	stalled, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	// A good client dialed after the stalled one is accepted after it, so
	// once it is through, the stalled handshake is running. Close must end
	// it and make Accept report net.ErrClosed.
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	good, err := Dial(context.Background(), "tcp", l.Addr().String(), testIdentity(t).authority.PublicKey(), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	good.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if n, _ := io.Copy(io.Discard, stalled); n != 0 {
		t.Errorf("stalled peer read %d bytes", n)
	}
}

func TestDialContextCancel(t *testing.T) {
	// A plain TCP listener that never answers act 1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := testConfig()
	cfg.HandshakeTimeout = 0
	errc := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, "tcp", ln.Addr().String(), testIdentity(t).authority.PublicKey(), cfg)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("%v, want context.Canceled", err)
	}
}

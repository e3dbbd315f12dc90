package simsrv

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerTracksConnectionsAndCloses(t *testing.T) {
	s := New()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 2)
	s.Accept(l, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	waitUntil(t, "two connections", func() bool { return s.Connections() == 2 })
	a.Write([]byte("hello\n"))
	if line := <-got; line != "hello\n" {
		t.Fatalf("handler read %q", line)
	}
	waitUntil(t, "a finished handler's connection to be dropped", func() bool { return s.Connections() == 1 })
	s.DisconnectAll()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("DisconnectAll left a connection open")
	}
	s.SetMode(RejectAll)
	if s.Mode() != RejectAll {
		t.Fatal("mode not kept")
	}
	s.CountAccepted("w", true)
	s.CountAccepted("w", false)
	s.CountRejected()
	if s.Accepted() != 2 || s.Blocks() != 1 || s.Rejected() != 1 || s.AcceptedBy("w") != 2 || s.AcceptedBy("x") != 0 {
		t.Fatal("tallies wrong")
	}
	s.Close()
	s.Close() // idempotent
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed")
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("listener still open after Close")
	}
}

func TestWriteLoopDrainsAndFlushesOnNil(t *testing.T) {
	a, b := net.Pipe()
	out := make(chan []byte, 4)
	out <- []byte("one\n")
	out <- []byte("two\n")
	out <- nil
	done := make(chan struct{})
	go func() { WriteLoop(a, out); close(done) }()
	r := bufio.NewReader(b)
	for _, want := range []string{"one\n", "two\n"} {
		if line, err := r.ReadString('\n'); err != nil || line != want {
			t.Fatalf("read %q %v, want %q", line, err, want)
		}
	}
	<-done
}

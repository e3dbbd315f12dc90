package noise

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// frames returns n plaintext frames of the given payload sizes in turn.
func frames(n int, sizes ...int) (stream []byte, payloads [][]byte) {
	for i := range n {
		size := sizes[i%len(sizes)]
		p := bytes.Repeat([]byte{byte(i)}, size)
		h := header(0, 0x1b, size)
		stream = append(append(stream, h[:]...), p...)
		payloads = append(payloads, p)
	}
	return stream, payloads
}

// TestSealFramesRoundTrip: frames sealed by SealFrames and written by the
// caller read back in order, interleaved with WriteFrame, over TCP.
func TestSealFramesRoundTrip(t *testing.T) {
	client, server := connPair(t, "tcp", testConfig(), testConfig())
	stream, want := frames(5, 40, 0, 300)
	ct, err := client.SealFrames([]byte("keep"), stream)
	if err != nil {
		t.Fatal(err)
	}
	// 5 frames: 40, 0, 300, 40, 0 payload bytes.
	if !bytes.HasPrefix(ct, []byte("keep")) || len(ct)-4 != 2*EncryptedLen(40)+2*EncryptedLen(0)+EncryptedLen(300) {
		t.Fatalf("sealed %d bytes after the prefix", len(ct)-4)
	}
	if _, err := client.NetConn().Write(ct[4:]); err != nil {
		t.Fatal(err)
	}
	last := pattern(70)
	if err := client.WriteFrame(header(0, 0x1c, 70), last); err != nil {
		t.Fatal(err)
	}
	for i, w := range append(want, last) {
		_, got, err := server.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(got), len(w))
		}
	}
}

// TestSealFramesRefusesPartFrame: a stream ending inside a frame is refused
// before any nonce is spent, so the connection goes on.
func TestSealFramesRefusesPartFrame(t *testing.T) {
	client, server := connPair(t, "tcp", testConfig(), testConfig())
	stream, _ := frames(2, 50)
	for _, cut := range []int{1, HeaderSize - 1, HeaderSize + 10} {
		ct, err := client.SealFrames(nil, stream[:len(stream)-56+cut])
		if !errors.Is(err, ErrFrameLength) || len(ct) != 0 {
			t.Fatalf("cut %d: %d bytes, err %v; want ErrFrameLength and nothing", cut, len(ct), err)
		}
	}
	if err := client.WriteFrame(header(0, 0x1b, 3), []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := server.ReadFrame(); err != nil || string(got) != "abc" {
		t.Fatalf("after refusals: %q, %v", got, err)
	}
}

// TestReadBufferBorrowedWhileBytesWait: a burst of frames is read through a
// pooled buffer that stays borrowed while frames wait in it (Buffered says
// so) and goes back once they are taken.
func TestReadBufferBorrowedWhileBytesWait(t *testing.T) {
	client, server := connPair(t, "tcp", testConfig(), testConfig())
	burst, want := frames(200, 60, 61)
	if _, err := client.Write(burst); err != nil {
		t.Fatal(err)
	}
	sawBuffered := false
	for i := range want {
		_, got, err := server.ReadFrame()
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Fatalf("burst frame %d: %v", i, err)
		}
		if n := server.Buffered(); n > 0 {
			sawBuffered = true
			if server.in.buf == nil {
				t.Fatalf("frame %d: %d bytes buffered with no buffer", i, n)
			}
		} else if server.in.buf != nil {
			t.Fatalf("frame %d: nothing buffered but the read buffer is still held", i)
		}
	}
	if !sawBuffered {
		t.Fatal("a 200-frame burst never left frames buffered")
	}
	if err := client.WriteFrame(header(0, 0x1b, 5), []byte("quiet")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := server.ReadFrame(); err != nil || string(got) != "quiet" {
		t.Fatalf("lone frame: %q, %v", got, err)
	}
	if server.in.buf != nil || server.Buffered() != 0 {
		t.Fatal("a drained connection still holds the read buffer")
	}
}

// TestReadResumesAcrossBuffers: a frame cut by a read deadline in the
// middle completes on the next read whichever buffer the halves arrived in.
func TestReadResumesAcrossBuffers(t *testing.T) {
	client, server := connPair(t, "tcp", testConfig(), testConfig())
	stream, want := frames(1, 3000)
	ct, err := client.SealFrames(nil, stream)
	if err != nil {
		t.Fatal(err)
	}
	raw := client.NetConn()
	if _, err := raw.Write(ct[:100]); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := server.ReadFrame(); err == nil {
		t.Fatal("half a frame returned a frame")
	}
	if _, err := raw.Write(ct[100:]); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, got, err := server.ReadFrame(); err != nil || !bytes.Equal(got, want[0]) {
		t.Fatalf("resumed frame: %d bytes, %v", len(got), err)
	}
}

package sv1

import (
	"io"
	"strings"
	"testing"
)

// piecesReader returns its pieces one per Read, as a socket returns what each write sent.
type piecesReader struct{ pieces []string }

func (p *piecesReader) Read(b []byte) (int, error) {
	if len(p.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.pieces[0])
	if p.pieces[0] = p.pieces[0][n:]; p.pieces[0] == "" {
		p.pieces = p.pieces[1:]
	}
	return n, nil
}

// TestLineReaderDetachAttach: the buffer comes away only between lines, lines read across a
// detach and a re-attach of another buffer are whole, and a line longer than the attached
// buffer grows one of the reader's own.
func TestLineReaderDetachAttach(t *testing.T) {
	long := strings.Repeat("x", 300)
	lr := NewLineReader(&piecesReader{pieces: []string{"one\ntw", "o\n", long + "\nla", "st"}}, 1000)
	if b := lr.Detach(); b != nil {
		t.Fatal("a reader that never read detached a buffer")
	}
	lr.Attach(make([]byte, 16))
	got := func(want string) {
		t.Helper()
		line, err := lr.ReadLine()
		if err != nil || string(line) != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	got("one")
	if b := lr.Detach(); b != nil || lr.Buffered() != 2 {
		t.Fatalf("detached %d bytes with part of a line (%d bytes) buffered", len(b), lr.Buffered())
	}
	got("two")
	b := lr.Detach()
	if len(b) != 16 || lr.Buffered() != 0 {
		t.Fatalf("between lines detached %d bytes, want the 16 attached; %d left", len(b), lr.Buffered())
	}
	lr.Attach(make([]byte, 8))
	lr.Attach(make([]byte, 64)) // it has one: kept
	got(long)
	got("last")
	if _, err := lr.ReadLine(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// TestLineReaderAttachFilled: bytes read for a detached reader into a borrowed buffer are its
// unread bytes, a line they end partly is completed by the reader's own reads, and a reader
// that holds a buffer takes none.
func TestLineReaderAttachFilled(t *testing.T) {
	lr := NewLineReader(&piecesReader{pieces: []string{"ree\n"}}, 1000)
	if !lr.Detached() {
		t.Fatal("a new reader holds a buffer")
	}
	b := make([]byte, 16)
	n := copy(b, "one\ntwo\nth")
	if lr.AttachFilled(b, len(b)+1) || lr.AttachFilled(b, -1) {
		t.Fatal("an out of range count was taken")
	}
	if !lr.AttachFilled(b, n) || lr.Detached() || lr.Buffered() != n {
		t.Fatalf("attached: detached %v, %d buffered, want %d", lr.Detached(), lr.Buffered(), n)
	}
	if lr.AttachFilled(make([]byte, 16), 3) {
		t.Fatal("a reader holding a buffer took another")
	}
	for _, want := range []string{"one", "two", "three"} {
		line, err := lr.ReadLine()
		if err != nil || string(line) != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	if got := lr.Detach(); len(got) != 16 {
		t.Fatalf("detached %d bytes, want the 16 attached", len(got))
	}
	if _, err := lr.ReadLine(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

package sv1

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll drains lr, returning lines and ErrLineTooLong markers.
func readAll(t *testing.T, lr *LineReader) ([]string, error) {
	t.Helper()
	var out []string
	for {
		line, err := lr.ReadLine()
		switch {
		case errors.Is(err, ErrLineTooLong):
			out = append(out, "<too long>")
		case err != nil:
			return out, err
		default:
			out = append(out, string(line))
		}
	}
}

func TestLineReaderFraming(t *testing.T) {
	cases := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"two in one chunk", "{\"a\":1}\n{\"b\":2}\n", 0, []string{`{"a":1}`, `{"b":2}`}},
		{"CRLF trimmed", "a\r\nb\r\n", 0, []string{"a", "b"}},
		{"empty lines skipped", "\n\r\n\na\n\n\nb\n", 0, []string{"a", "b"}},
		{"last line without LF", "a\nb", 0, []string{"a", "b"}},
		{"last line CR only", "a\n\r", 0, []string{"a"}},
		{"exactly max", "abcd\nx\n", 4, []string{"abcd", "x"}},
		{"max counts CR", "abc\r\nx\n", 4, []string{"abc", "x"}},
		{"one over max", "abcde\nx\n", 4, []string{"<too long>", "x"}},
		{"CR pushes over max", "abcd\r\nx\n", 4, []string{"<too long>", "x"}},
		{"long line then more", "a\n" + strings.Repeat("z", 100) + "\nb\nc\n", 10, []string{"a", "<too long>", "b", "c"}},
		{"long line at EOF", "a\n" + strings.Repeat("z", 100), 10, []string{"a", "<too long>"}},
		{"CR in the middle kept", "a\rb\n", 0, []string{"a\rb"}},
	}
	for _, tc := range cases {
		for _, wrap := range []struct {
			name string
			fn   func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"one-byte", iotest.OneByteReader},
			{"half", iotest.HalfReader},
			{"data-err", iotest.DataErrReader},
		} {
			t.Run(tc.name+"/"+wrap.name, func(t *testing.T) {
				lr := NewLineReader(wrap.fn(strings.NewReader(tc.in)), tc.max)
				got, err := readAll(t, lr)
				if err != io.EOF {
					t.Fatalf("final error %v, want io.EOF", err)
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			})
		}
	}
}

func TestLineReaderDefaultMax(t *testing.T) {
	if got := NewLineReader(strings.NewReader(""), 0).MaxLine(); got != DefaultMaxLine {
		t.Fatalf("MaxLine() = %d, want %d", got, DefaultMaxLine)
	}
}

// TestLineReaderOversizedNotBuffered feeds a 4 MiB line to a reader capped
// at 1 KiB: it must never hold more than the cap.
func TestLineReaderOversizedNotBuffered(t *testing.T) {
	const max = 1 << 10
	in := io.MultiReader(strings.NewReader("ok\n"),
		strings.NewReader(strings.Repeat("x", 4<<20)), strings.NewReader("\nafter\n"))
	lr := NewLineReader(in, max)
	got, err := readAll(t, lr)
	if err != io.EOF {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "ok|<too long>|after" {
		t.Fatalf("got %q", got)
	}
	if cap(lr.buf) > max+1 {
		t.Fatalf("buffer grew to %d bytes, cap is %d", cap(lr.buf), max)
	}
}

// TestLineReaderGrowsOnlyWhenNeeded checks that small lines keep the small
// initial buffer while a long notify line grows it up to the cap.
func TestLineReaderGrowsOnlyWhenNeeded(t *testing.T) {
	lr := NewLineReader(strings.NewReader(strings.Repeat("{\"id\":1}\n", 10000)), 0)
	if _, err := readAll(t, lr); err != io.EOF {
		t.Fatal(err)
	}
	if cap(lr.buf) != initialBufSize {
		t.Fatalf("buffer is %d bytes after short lines, want %d", cap(lr.buf), initialBufSize)
	}
	long := strings.Repeat("a", 100<<10)
	lr = NewLineReader(iotest.HalfReader(strings.NewReader(long+"\n")), 0)
	line, err := lr.ReadLine()
	if err != nil || string(line) != long {
		t.Fatalf("long line: %v len=%d", err, len(line))
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestLineReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	lr := NewLineReader(io.MultiReader(strings.NewReader("a\npartial"), errReader{boom}), 0)
	if line, err := lr.ReadLine(); err != nil || string(line) != "a" {
		t.Fatalf("got %q %v", line, err)
	}
	// A partial line before a non-EOF error is not a line.
	if _, err := lr.ReadLine(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if _, err := NewLineReader(zeroReader{}, 0).ReadLine(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v, want io.ErrNoProgress", err)
	}
	lr = NewLineReader(iotest.TimeoutReader(strings.NewReader("abc\ndef\n")), 0)
	if line, err := lr.ReadLine(); err != nil || string(line) != "abc" {
		t.Fatalf("got %q %v", line, err)
	}
	if line, err := lr.ReadLine(); err != nil || string(line) != "def" {
		t.Fatalf("got %q %v", line, err)
	}
	if _, err := lr.ReadLine(); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("err = %v, want timeout", err)
	}
}

// TestLineReaderTCP sends every captured line over loopback TCP in random
// chunk sizes and expects exactly those lines back.
func TestLineReaderTCP(t *testing.T) {
	var want [][]byte
	var stream bytes.Buffer
	for _, w := range loadLines(t) {
		if bytes.ContainsAny(w.line, "\n\r") || len(bytes.TrimSpace(w.line)) == 0 {
			continue // TLS probe bytes may contain LF/CR
		}
		want = append(want, w.line)
		stream.Write(w.line)
		if len(want)%3 == 0 {
			stream.WriteString("\r\n")
		} else {
			stream.WriteString("\n")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		rng := rand.New(rand.NewPCG(1, 2))
		b := stream.Bytes()
		for len(b) > 0 {
			n := min(len(b), 1+rng.IntN(3000))
			if _, err := c.Write(b[:n]); err != nil {
				done <- err
				return
			}
			b = b[n:]
		}
		done <- nil
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lr := NewLineReader(c, 0)
	for i, w := range want {
		line, err := lr.ReadLine()
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if !bytes.Equal(line, w) {
			t.Fatalf("line %d:\n got %q\nwant %q", i, line, w)
		}
	}
	if _, err := lr.ReadLine(); err != io.EOF {
		t.Fatalf("after last line: %v, want io.EOF", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

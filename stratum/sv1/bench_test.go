package sv1

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchLine returns the first captured line containing substr.
func benchLine(b *testing.B, substr string) []byte {
	b.Helper()
	for _, w := range loadLines(b) {
		if w.isJSON && bytes.Contains(w.line, []byte(substr)) {
			return w.line
		}
	}
	b.Fatalf("no captured line contains %q", substr)
	return nil
}

// repeatReader replays data forever without allocating.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func benchmarkLineReader(b *testing.B, lines []byte, perRead int) {
	count := bytes.Count(lines, []byte("\n"))
	var rd io.Reader = &repeatReader{data: lines}
	if perRead > 0 {
		rd = &chunkReader{r: rd, n: perRead}
	}
	lr := NewLineReader(rd, 0)
	b.SetBytes(int64(len(lines) / count))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := lr.ReadLine(); err != nil {
			b.Fatal(err)
		}
	}
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// BenchmarkLineReader frames the whole captured corpus (submits, notifies,
// replies), one line per op.
func BenchmarkLineReader(b *testing.B) {
	var all bytes.Buffer
	for _, w := range loadLines(b) {
		if w.isJSON {
			all.Write(w.line)
			all.WriteString("\r\n")
		}
	}
	b.Run("corpus", func(b *testing.B) { benchmarkLineReader(b, all.Bytes(), 0) })
	b.Run("corpus-1460B-reads", func(b *testing.B) { benchmarkLineReader(b, all.Bytes(), 1460) })
	// A 200 KiB line arriving in 1460-byte segments: linear, not quadratic.
	long := []byte(strings.Repeat("a", 200<<10) + "\n")
	b.Run("200KiB-line-1460B-reads", func(b *testing.B) { benchmarkLineReader(b, long, 1460) })
}

// BenchmarkDecodeSubmit is the miner-facing hot path: envelope, then typed
// submit params, reusing the Message and Submit across lines.
func BenchmarkDecodeSubmit(b *testing.B) {
	line := benchLine(b, `"method": "mining.submit", "params": ["tb1q`)
	var m Message
	var s Submit
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := DecodeInto(&m, line); err != nil {
			b.Fatal(err)
		}
		if err := m.UnmarshalParams(&s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeShare is BenchmarkDecodeSubmit with the proxy's share decoder, over lines
// whose worker names differ as they do at a proxy with many miners.
func BenchmarkDecodeShare(b *testing.B) {
	for _, c := range []struct {
		name   string
		decode func(*Submit, []byte) error
	}{
		{"general", (*Submit).UnmarshalJSON},
		{"share", (*Submit).UnmarshalShare},
	} {
		b.Run(c.name, func(b *testing.B) {
			lines := make([][]byte, 64)
			for i := range lines {
				lines[i] = fmt.Appendf(nil, `{"id":%d,"method":"mining.submit","params":["rack.m%03d","1f2e","0000000%x","6553f100","%08x","00002000"]}`, i, i, i%16, i*7919)
			}
			var m Message
			var s Submit
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := DecodeInto(&m, lines[i%len(lines)]); err != nil {
					b.Fatal(err)
				}
				if err := c.decode(&s, m.Params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeSubmitFresh is the same with a new Message and Submit per line.
func BenchmarkDecodeSubmitFresh(b *testing.B) {
	line := benchLine(b, `"method": "mining.submit", "params": ["tb1q`)
	b.ReportAllocs()
	for range b.N {
		m, err := Decode(line)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.ParseParams(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubmitRoundTrip decodes a submit and encodes its reply: the
// per-share work of a downstream session apart from hashing.
func BenchmarkSubmitRoundTrip(b *testing.B) {
	line := benchLine(b, `"method": "mining.submit", "params": ["tb1q`)
	var m Message
	var s Submit
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := DecodeInto(&m, line); err != nil {
			b.Fatal(err)
		}
		if err := m.UnmarshalParams(&s); err != nil {
			b.Fatal(err)
		}
		if i%8 == 0 {
			buf = AppendErrorResponse(buf[:0], m.ID, ErrLowDifficulty)
		} else {
			buf = AppendBoolResponse(buf[:0], m.ID, true)
		}
	}
}

// BenchmarkReply encodes share replies.
func BenchmarkReply(b *testing.B) {
	id := IntID(188959)
	buf := make([]byte, 0, 256)
	b.Run("true", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf = AppendBoolResponse(buf[:0], id, true)
		}
	})
	b.Run("error", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf = AppendErrorResponse(buf[:0], id, ErrJobNotFound)
		}
	})
	b.Run("json.Marshal-path", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf, _ = AppendResponse(buf[:0], id, nil, ErrJobNotFound)
		}
	})
}

// BenchmarkAppendNotify encodes the 12-branch Slush mainnet job once; the
// bytes are then written unchanged to every miner.
func BenchmarkAppendNotify(b *testing.B) {
	m, err := Decode(benchLine(b, `"1b4c3d9041"`))
	if err != nil {
		b.Fatal(err)
	}
	var n Notify
	if err := m.UnmarshalParams(&n); err != nil {
		b.Fatal(err)
	}
	buf := AppendNotify(nil, &n)
	b.Run("append", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for range b.N {
			buf = AppendNotify(buf[:0], &n)
		}
	})
	b.Run("json.Marshal-path", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for range b.N {
			buf, _ = AppendNotification(buf[:0], &n)
		}
	})
	b.Run("decode", func(b *testing.B) {
		line := benchLine(b, `"1b4c3d9041"`)
		var dm Message
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for range b.N {
			if err := DecodeInto(&dm, line); err != nil {
				b.Fatal(err)
			}
			if err := dm.UnmarshalParams(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

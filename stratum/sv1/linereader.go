package sv1

import (
	"bytes"
	"io"
)

// DefaultMaxLine is the default cap on one line. Notify lines carry the whole
// coinbase (up to ~16 KB for payout-heavy pools) plus the merkle branch, so
// 256 KiB leaves ample room while bounding what one peer can make us hold
// (sv1.md section 1).
const DefaultMaxLine = 256 << 10

// initialBufSize is where a LineReader's buffer starts; it grows by doubling
// only when a line needs it, so 10,000 idle miners do not cost 10,000 caps.
const initialBufSize = 512

// maxEmptyReads bounds consecutive (0, nil) reads before giving up, as bufio does.
const maxEmptyReads = 100

// LineReader frames a Stratum V1 byte stream strictly on LF (sv1.md section 1):
// never on read boundaries, with a hard cap per line. A trailing CR is
// trimmed and empty lines are skipped.
//
// The buffer starts small and grows up to the cap; an oversized line is
// reported with ErrLineTooLong and discarded without ever being held whole.
// Every byte is examined once, so framing is linear in the input.
//
// A LineReader is not safe for concurrent use.
type LineReader struct {
	rd      io.Reader
	buf     []byte
	r, w    int  // buf[r:w] holds unread bytes
	scanned int  // buf[r:r+scanned] is known to hold no LF
	max     int  // longest accepted line, excluding the LF
	skip    bool // discarding the rest of an oversized line
	err     error
}

// NewLineReader returns a LineReader over rd accepting lines of at most
// maxLine bytes (excluding the LF, including a CR). maxLine <= 0 means
// DefaultMaxLine.
func NewLineReader(rd io.Reader, maxLine int) *LineReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &LineReader{rd: rd, max: maxLine}
}

// MaxLine returns the cap in force.
func (lr *LineReader) MaxLine() int { return lr.max }

// Buffered returns the number of bytes read from the underlying reader but
// not yet returned.
func (lr *LineReader) Buffered() int { return lr.w - lr.r }

// ReadLine returns the next non-empty line without its LF or trailing CR.
//
// The returned slice aliases the reader's buffer and is valid only until the
// next call; copy it (Decode does) to keep it.
//
// A line longer than the cap yields ErrLineTooLong; the reader then skips to
// the end of that line on the next call, so the caller may either continue or
// close the connection. A final line without LF is returned before io.EOF.
// Read errors from the underlying reader are returned once all complete
// lines before them have been returned.
func (lr *LineReader) ReadLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.r+lr.scanned:lr.w], '\n'); i >= 0 {
			end := lr.r + lr.scanned + i
			line := lr.buf[lr.r:end]
			lr.r = end + 1
			lr.scanned = 0
			if lr.skip {
				lr.skip = false
				continue
			}
			if len(line) > lr.max {
				return nil, ErrLineTooLong
			}
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if len(line) == 0 {
				continue
			}
			return line, nil
		}
		lr.scanned = lr.w - lr.r
		if lr.scanned > lr.max || (lr.skip && lr.scanned > 0) {
			// Too long (or still inside one): drop what we hold and keep
			// scanning for the LF without buffering.
			wasSkipping := lr.skip
			lr.skip = true
			lr.r, lr.w, lr.scanned = 0, 0, 0
			if !wasSkipping {
				return nil, ErrLineTooLong
			}
		}
		if lr.err != nil {
			return lr.finish()
		}
		lr.fill()
	}
}

// finish handles the end of input: a last unterminated line, then the error.
func (lr *LineReader) finish() ([]byte, error) {
	if lr.w > lr.r && !lr.skip && lr.err == io.EOF {
		line := lr.buf[lr.r:lr.w]
		lr.r, lr.scanned = lr.w, 0
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > 0 {
			return line, nil
		}
	}
	lr.r, lr.w, lr.scanned, lr.skip = 0, 0, 0, false
	return nil, lr.err
}

// fill reads once into the free space, first compacting or growing so that
// at least half of the buffer is free: that keeps copying amortised linear.
func (lr *LineReader) fill() {
	unread := lr.w - lr.r
	switch {
	case lr.buf == nil:
		lr.buf = make([]byte, min(initialBufSize, lr.max+1))
	case unread > len(lr.buf)/2 && len(lr.buf) <= lr.max:
		nb := make([]byte, min(2*len(lr.buf), lr.max+1))
		copy(nb, lr.buf[lr.r:lr.w])
		lr.buf = nb
		lr.r, lr.w = 0, unread
	case lr.r > 0 && lr.w == len(lr.buf):
		copy(lr.buf, lr.buf[lr.r:lr.w])
		lr.r, lr.w = 0, unread
	case lr.r > 0 && lr.r == lr.w:
		lr.r, lr.w = 0, 0
	}
	for range maxEmptyReads {
		n, err := lr.rd.Read(lr.buf[lr.w:])
		if n < 0 || n > len(lr.buf)-lr.w {
			panic("sv1: reader returned invalid count")
		}
		lr.w += n
		if err != nil {
			lr.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	lr.err = io.ErrNoProgress
}

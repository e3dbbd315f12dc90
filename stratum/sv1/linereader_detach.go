package sv1

// Detach takes the reader's buffer away when it holds no unread bytes, so that a connection
// waiting for its next line holds no buffer; a server with many idle peers can share a few
// buffers among those that are reading (Attach). It returns nil, keeping the buffer, while
// part of a line is buffered or an oversized line is being skipped.
func (lr *LineReader) Detach() []byte {
	if lr.buf == nil || lr.r != lr.w || lr.skip {
		return nil
	}
	b := lr.buf
	lr.buf, lr.r, lr.w, lr.scanned = nil, 0, 0, 0
	return b
}

// Attach gives a reader without a buffer (new, or detached) b to read into; a reader that has
// one keeps it. Lines longer than b still grow a buffer of the reader's own, up to the cap.
func (lr *LineReader) Attach(b []byte) {
	if lr.buf != nil || len(b) == 0 {
		return
	}
	lr.buf, lr.r, lr.w, lr.scanned = b, 0, 0, 0
}

// Detached reports a reader that holds no buffer: what Attach or AttachFilled would give one.
func (lr *LineReader) Detached() bool { return lr.buf == nil }

// AttachFilled is Attach for bytes already read into b by the caller (b[:n]): a server that
// waits for a socket holding no buffer reads into a borrowed one when the bytes come, so one
// read both wakes it and fills the buffer. It reports false, taking nothing, when the reader
// holds a buffer already or n is out of range.
func (lr *LineReader) AttachFilled(b []byte, n int) bool {
	if lr.buf != nil || len(b) == 0 || n < 0 || n > len(b) {
		return false
	}
	lr.buf, lr.r, lr.w, lr.scanned = b, 0, n, 0
	return true
}

package noise

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// keepBuffer is the largest scratch buffer a Conn keeps between frames;
// a rare large frame must not pin megabytes for the connection's life.
const keepBuffer = 128 << 10

// Conn is an encrypted SV2 connection. It implements net.Conn over the
// plaintext SV2 byte stream and also offers a frame API.
//
// One goroutine may read while another writes. Reads resume after a
// deadline expires mid-frame. A failed MAC, a truncated stream or a write
// error make the affected direction fail from then on; Close the Conn.
type Conn struct {
	conn       net.Conn
	sess       *Session
	maxPayload int

	rmu     sync.Mutex
	in      inbuf
	recv    *cipherState
	rerr    error
	rs      readState
	pending []byte // plaintext frames not yet returned by Read
	pendOff int

	wmu     sync.Mutex
	send    *cipherState
	werr    error
	partial []byte // plaintext of a frame Write has not seen the end of
}

var _ net.Conn = (*Conn)(nil)

// readState holds a frame being received, so a read deadline that fires
// mid-frame loses nothing.
type readState struct {
	hdrCT   [EncryptedHeaderSize]byte
	hdrN    int
	hdrOK   bool
	hdr     [HeaderSize]byte
	length  int
	buf     []byte // payload plaintext [0:done], then the current chunk's ciphertext
	done    int
	chunkN  int
	scratch []byte // buffer handed back by Read for reuse
}

// NewConn wraps a connection whose handshake produced sess. Client, Server
// and Listener call it; it is exported for callers running the handshake
// machines over their own transport.
func NewConn(c net.Conn, sess *Session, cfg *Config) (*Conn, error) {
	cfg, err := orDefault(cfg)
	if err != nil {
		return nil, err
	}
	return &Conn{
		conn:       c,
		sess:       sess,
		maxPayload: cfg.MaxPayload,
		recv:       &sess.recv,
		send:       &sess.send,
	}, nil
}

// Session returns the handshake result (remote static key, certificate,
// handshake hash).
func (c *Conn) Session() *Session { return c.sess }

// ReadFrame returns the next frame's plaintext header and payload. The
// payload belongs to the caller. Do not mix with Read mid-frame.
func (c *Conn) ReadFrame() (hdr [HeaderSize]byte, payload []byte, err error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.pendOff < len(c.pending) {
		return hdr, nil, errors.New("noise: ReadFrame while Read holds part of a frame")
	}
	return c.readFrame()
}

// Read reads the plaintext SV2 stream: headers and payloads in order.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if c.pendOff == len(c.pending) {
		hdr, payload, err := c.readFrame()
		if err != nil {
			return 0, err
		}
		c.pending = append(append(c.pending[:0], hdr[:]...), payload...)
		c.pendOff = 0
		if cap(payload) <= keepBuffer {
			c.rs.scratch = payload[:0]
		}
	}
	n := copy(p, c.pending[c.pendOff:])
	c.pendOff += n
	if c.pendOff == len(c.pending) && cap(c.pending) > keepBuffer {
		c.pending, c.pendOff = nil, 0
	}
	return n, nil
}

// readFrame runs the resumable receive state machine. Caller holds rmu.
func (c *Conn) readFrame() (hdr [HeaderSize]byte, payload []byte, err error) {
	if c.rerr != nil {
		return hdr, nil, c.rerr
	}
	rs := &c.rs
	if !rs.hdrOK {
		if err := c.fill(rs.hdrCT[:], &rs.hdrN, rs.hdrN == 0); err != nil {
			return hdr, nil, err
		}
		if _, err := c.recv.open(rs.hdr[:0], nil, rs.hdrCT[:]); err != nil {
			return hdr, nil, c.failRead(fmt.Errorf("noise: frame header: %w", err))
		}
		rs.hdrOK = true
		rs.length = msgLength(rs.hdr[:])
		if rs.length > c.maxPayload {
			return hdr, nil, c.failRead(fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, rs.length, c.maxPayload))
		}
		rs.buf, rs.scratch = rs.scratch[:0], nil
	}
	for rs.done < rs.length {
		chunk := min(rs.length-rs.done, MaxChunkPlaintext)
		end := rs.done + chunk + MACSize
		if cap(rs.buf) < end {
			// Grow with the data received, never straight to the header's
			// length: a peer must send bytes to make us hold them.
			nb := make([]byte, rs.done, max(end, min(2*cap(rs.buf), rs.length+MACSize)))
			copy(nb, rs.buf[:rs.done])
			rs.buf = nb
		}
		rs.buf = rs.buf[:end]
		ct := rs.buf[rs.done:end]
		if err := c.fill(ct, &rs.chunkN, false); err != nil {
			return hdr, nil, err
		}
		if _, err := c.recv.open(ct[:0], nil, ct); err != nil {
			return hdr, nil, c.failRead(fmt.Errorf("noise: frame payload: %w", err))
		}
		rs.done += chunk
		rs.chunkN = 0
	}
	hdr, payload = rs.hdr, rs.buf[:rs.length:rs.length]
	*rs = readState{}
	return hdr, payload, nil
}

// fill reads into b[*n:] until b is full. A timeout keeps the progress and
// may be retried; other errors are final. atBoundary means no byte of the
// frame was read yet, so EOF is a clean close rather than truncation.
func (c *Conn) fill(b []byte, n *int, atBoundary bool) error {
	for *n < len(b) {
		m, err := c.read(b[*n:])
		*n += m
		if err == nil || *n == len(b) {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return err
		}
		if errors.Is(err, io.EOF) && !(atBoundary && *n == 0) {
			err = io.ErrUnexpectedEOF
		}
		return c.failRead(err)
	}
	return nil
}

func (c *Conn) failRead(err error) error {
	c.rerr = err
	return err
}

// WriteFrame encrypts and sends one frame. hdr's msg_length must equal
// len(payload). The frame goes out in a single write to the connection.
func (c *Conn) WriteFrame(hdr [HeaderSize]byte, payload []byte) error {
	if msgLength(hdr[:]) != len(payload) {
		return fmt.Errorf("%w: header says %d, payload is %d", ErrFrameLength, msgLength(hdr[:]), len(payload))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if len(c.partial) > 0 {
		return errors.New("noise: WriteFrame while Write holds part of a frame")
	}
	bp := getWriteBuf()
	defer putWriteBuf(bp)
	buf, err := c.send.sealFrame((*bp)[:0], hdr, payload)
	*bp = buf
	if err != nil {
		return c.failWrite(err)
	}
	return c.flush(buf)
}

// Write takes the plaintext SV2 stream. Each frame is encrypted and sent
// once its last byte arrives; bytes of an unfinished frame are held until
// the next Write. Many frames in one call go out in one write.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	data := p
	if len(c.partial) > 0 {
		c.partial = append(c.partial, p...)
		data = c.partial
	}
	bp := getWriteBuf()
	defer putWriteBuf(bp)
	out := (*bp)[:0]
	for len(data) >= HeaderSize {
		n := msgLength(data)
		if len(data) < HeaderSize+n {
			break
		}
		var err error
		if out, err = c.send.sealFrame(out, [HeaderSize]byte(data[:HeaderSize]), data[HeaderSize:HeaderSize+n]); err != nil {
			return 0, c.failWrite(err)
		}
		*bp = out
		data = data[HeaderSize+n:]
	}
	// Keep the unfinished tail; copy handles data aliasing c.partial.
	tail := grow(c.partial[:0], len(data))[:len(data)]
	copy(tail, data)
	c.partial = tail
	if len(tail) == 0 && cap(tail) > keepBuffer {
		c.partial = nil
	}
	if len(out) > 0 {
		if err := c.flush(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *Conn) flush(buf []byte) error {
	_, err := c.conn.Write(buf)
	if err != nil {
		// Nonces are spent and the peer may hold part of a frame: the
		// stream cannot continue, even after a timeout.
		return c.failWrite(err)
	}
	return nil
}

func (c *Conn) failWrite(err error) error {
	c.werr = err
	return err
}

// SealFrames appends the encryption of p, which must be whole plaintext
// frames, to dst and writes nothing: the caller sends the result itself, for
// example with a write that never waits, queuing what the socket refuses.
// Ciphertexts must reach the wire in the order they were sealed (the nonce
// counts frames), and Write or WriteFrame must not run between a seal and its
// write. p is checked before anything is sealed; a failure while sealing
// (the nonce space is spent) ends the sending direction, as in Write.
func (c *Conn) SealFrames(dst, p []byte) ([]byte, error) {
	for rest := p; len(rest) > 0; {
		if len(rest) < HeaderSize || len(rest) < HeaderSize+msgLength(rest) {
			return dst, fmt.Errorf("%w: %d bytes end inside a frame", ErrFrameLength, len(rest))
		}
		rest = rest[HeaderSize+msgLength(rest):]
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return dst, c.werr
	}
	if len(c.partial) > 0 {
		return dst, errors.New("noise: SealFrames while Write holds part of a frame")
	}
	start := len(dst)
	for len(p) > 0 {
		n := msgLength(p)
		var err error
		if dst, err = c.send.sealFrame(dst, [HeaderSize]byte(p[:HeaderSize]), p[HeaderSize:HeaderSize+n]); err != nil {
			return dst[:start], c.failWrite(err)
		}
		p = p[HeaderSize+n:]
	}
	return dst, nil
}

// NetConn returns the connection the ciphertext travels on, for callers that
// write what SealFrames produced.
func (c *Conn) NetConn() net.Conn { return c.conn }

// Buffered reports how many received bytes wait in the Conn's buffer: more
// than zero means the next frame may be read without waiting for the peer.
// Call it from the reading goroutine.
func (c *Conn) Buffered() int {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.in.w - c.in.r
}

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.conn.Close() }

// LocalAddr returns the underlying connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets both deadlines on the underlying connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the underlying read deadline; a frame cut by it is
// resumed by the next read.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the underlying write deadline; a write that times
// out ends the sending direction.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

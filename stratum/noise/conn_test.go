package noise

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// testNow lies inside the window of testIdentity's certificate.
var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

type identity struct {
	authority *AuthorityKey
	static    *KeyPair
	cert      Certificate
}

var (
	idOnce sync.Once
	id     identity
)

// testIdentity is an authority, a server static key and a certificate
// valid through 2026, made once per test binary.
func testIdentity(t testing.TB) identity {
	idOnce.Do(func() {
		var err error
		if id.authority, err = GenerateAuthority(nil); err != nil {
			t.Fatal(err)
		}
		if id.static, err = NewKeyPair(nil); err != nil {
			t.Fatal(err)
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if id.cert, err = IssueServerCertificate(id.authority, id.static, from, from.AddDate(1, 0, 0), nil); err != nil {
			t.Fatal(err)
		}
	})
	return id
}

func testConfig() *Config {
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return testNow }
	return cfg
}

// rawPair returns two connected net.Conns over a real loopback TCP
// connection or an in-memory pipe.
func rawPair(t testing.TB, network string) (client, server net.Conn) {
	t.Helper()
	if network == "pipe" {
		client, server = net.Pipe()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c
		}()
		if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if server = <-accepted; server == nil {
			t.Fatal("accept failed")
		}
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// connPair runs Client and Server over rawPair.
func connPair(t testing.TB, network string, ccfg, scfg *Config) (client, server *Conn) {
	t.Helper()
	ident := testIdentity(t)
	rc, rs := rawPair(t, network)
	type result struct {
		c   *Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Server(rs, ident.static, ident.cert, scfg)
		done <- result{c, err}
	}()
	client, err := Client(rc, ident.authority.PublicKey(), ccfg)
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("server handshake: %v", r.err)
	}
	return client, r.c
}

func header(ext uint16, typ uint8, n int) [HeaderSize]byte {
	return [HeaderSize]byte{byte(ext), byte(ext >> 8), typ, byte(n), byte(n >> 8), byte(n >> 16)}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// vectorSessions runs the handshake vector and returns both sessions.
func vectorSessions(t testing.TB) (ini, res *Session, v *handshakeVector) {
	t.Helper()
	v = loadHandshakeVector(t)
	ei, er, sr, a := vectorKeys(t, v)
	cert, err := DecodeCertificate(unhex(t, v.Act2.Cert.Message))
	if err != nil {
		t.Fatal(err)
	}
	i, _ := NewInitiator(a.PublicKey(), fixedConfig(ei, vectorNow))
	r, _ := NewResponder(sr, cert, fixedConfig(er, vectorNow))
	act1, _ := i.Act1()
	if err := r.ReadAct1(act1[:]); err != nil {
		t.Fatal(err)
	}
	act2, rs, err := r.Act2()
	if err != nil {
		t.Fatal(err)
	}
	is, err := i.ReadAct2(act2[:])
	if err != nil {
		t.Fatal(err)
	}
	return is, rs, v
}

// capture writes with w and returns the bytes that reached the other end
// of a pipe.
func capture(t *testing.T, sess *Session, write func(*Conn) error) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer b.Close()
	c, err := NewConn(a, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- write(c); a.Close() }()
	got, _ := io.ReadAll(b)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return got
}

// feed returns a Conn on sess that reads wire.
func feed(t *testing.T, sess *Session, wire []byte) *Conn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() { b.Write(wire); b.Close() }()
	c, err := NewConn(a, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTransportVector checks the first frames of handshake_derived.json in
// both directions, including the 70000-byte two-chunk frame, through Conn.
func TestTransportVector(t *testing.T) {
	is, rs, v := vectorSessions(t)
	f1 := v.frame(t, "initiator_frame_1")
	r1 := v.frame(t, "responder_frame_1")
	r2 := v.frame(t, "responder_frame_2_multichunk")

	wire := capture(t, is, func(c *Conn) error {
		return c.WriteFrame([HeaderSize]byte(unhex(t, f1.Header)), unhex(t, f1.Payload))
	})
	if got := hex.EncodeToString(wire); got != f1.Wire {
		t.Errorf("initiator frame 1\n got %s\nwant %s", got, f1.Wire)
	}

	big := pattern(r2.PayloadLen)
	if sum := sha256.Sum256(big); hex.EncodeToString(sum[:]) != r2.PayloadHash {
		t.Fatal("multichunk payload pattern differs from vector")
	}
	wire = capture(t, rs, func(c *Conn) error {
		if err := c.WriteFrame([HeaderSize]byte(unhex(t, r1.Header)), unhex(t, r1.Payload)); err != nil {
			return err
		}
		return c.WriteFrame([HeaderSize]byte(unhex(t, r2.Header)), big)
	})
	r1wire := unhex(t, r1.Wire)
	if !bytes.Equal(wire[:len(r1wire)], r1wire) {
		t.Errorf("responder frame 1\n got %x\nwant %s", wire[:len(r1wire)], r1.Wire)
	}
	w2 := wire[len(r1wire):]
	if len(w2) != r2.WireLen || EncryptedLen(r2.PayloadLen) != r2.WireLen {
		t.Fatalf("multichunk wire %d bytes, want %d", len(w2), r2.WireLen)
	}
	if sum := sha256.Sum256(w2); hex.EncodeToString(sum[:]) != r2.WireHash {
		t.Errorf("multichunk wire hash %x", sum)
	}
	if hex.EncodeToString(w2[:EncryptedHeaderSize]) != r2.CTHeader {
		t.Errorf("multichunk header %x", w2[:EncryptedHeaderSize])
	}
	off := EncryptedHeaderSize
	for _, ch := range r2.Chunks {
		ct := w2[off : off+ch.CTLen]
		if hex.EncodeToString(ct[:32]) != ch.First32 || hex.EncodeToString(ct[len(ct)-32:]) != ch.Last32 {
			t.Errorf("chunk nonce %d differs", ch.Nonce)
		}
		off += ch.CTLen
	}

	// The receiving sides decrypt the same bytes.
	srv := feed(t, rs, unhex(t, f1.Wire))
	hdr, payload, err := srv.ReadFrame()
	if err != nil || hex.EncodeToString(hdr[:]) != f1.Header || hex.EncodeToString(payload) != f1.Payload {
		t.Errorf("responder read %x %x %v", hdr, payload, err)
	}
	cli := feed(t, is, wire)
	hdr, payload, err = cli.ReadFrame()
	if err != nil || hex.EncodeToString(hdr[:]) != r1.Header || hex.EncodeToString(payload) != r1.Payload {
		t.Errorf("initiator read frame 1 %x %x %v", hdr, payload, err)
	}
	hdr, payload, err = cli.ReadFrame()
	if err != nil || hex.EncodeToString(hdr[:]) != r2.Header || !bytes.Equal(payload, big) {
		t.Errorf("initiator read multichunk: %x, %d bytes, %v", hdr, len(payload), err)
	}
	if _, _, err := cli.ReadFrame(); err != io.EOF {
		t.Errorf("after last frame: %v, want io.EOF", err)
	}
}

var networks = []string{"tcp", "pipe"}

// TestConnFrames exchanges frames of every size class both ways at once,
// over TCP and a pipe.
func TestConnFrames(t *testing.T) {
	sizes := []int{0, 1, 6, 100, MaxChunkPlaintext - 1, MaxChunkPlaintext, MaxChunkPlaintext + 1, 2*MaxChunkPlaintext + 5, 300_000}
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			client, server := connPair(t, network, testConfig(), testConfig())
			if client.Session().RemoteStatic() != testIdentity(t).static.XOnly() {
				t.Error("client learned the wrong static key")
			}
			if client.Session().HandshakeHash() != server.Session().HandshakeHash() {
				t.Error("handshake hashes differ")
			}
			var wg sync.WaitGroup
			for _, dir := range []struct {
				name   string
				w, r   *Conn
				msgTyp uint8
			}{{"c→s", client, server, 0x10}, {"s→c", server, client, 0x20}} {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for i, n := range sizes {
						if err := dir.w.WriteFrame(header(0x8000, dir.msgTyp+uint8(i), n), pattern(n)); err != nil {
							t.Errorf("%s write %d: %v", dir.name, n, err)
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					for i, n := range sizes {
						hdr, p, err := dir.r.ReadFrame()
						if err != nil {
							t.Errorf("%s read %d: %v", dir.name, n, err)
							return
						}
						if hdr != header(0x8000, dir.msgTyp+uint8(i), n) || !bytes.Equal(p, pattern(n)) {
							t.Errorf("%s frame %d: header %x, %d bytes", dir.name, n, hdr, len(p))
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestConnStream uses the io.Reader/io.Writer view: a plaintext SV2 stream
// written in ragged pieces arrives intact through small reads.
func TestConnStream(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			client, server := connPair(t, network, testConfig(), testConfig())
			var stream []byte
			for i, n := range []int{0, 37, 5, 70000, 0, 200, 1} {
				h := header(0, uint8(i), n)
				stream = append(append(stream, h[:]...), pattern(n)...)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			go func() {
				for rest := stream; len(rest) > 0; {
					n := min(len(rest), 1+rng.IntN(9000))
					if _, err := client.Write(rest[:n]); err != nil {
						t.Errorf("write: %v", err)
						return
					}
					rest = rest[n:]
				}
			}()
			got := make([]byte, 0, len(stream))
			buf := make([]byte, 333)
			for len(got) < len(stream) {
				n, err := server.Read(buf)
				if err != nil {
					t.Fatalf("read after %d bytes: %v", len(got), err)
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, stream) {
				t.Fatal("stream differs")
			}
		})
	}
}

// relay copies a→b, flipping one bit of byte at (counted from the start
// of the transport stream).
func tamperedPair(t *testing.T, at int) (client, server *Conn) {
	t.Helper()
	is, rs, _ := vectorSessions(t)
	ca, cb := net.Pipe()
	sa, sb := net.Pipe()
	t.Cleanup(func() { ca.Close(); cb.Close(); sa.Close(); sb.Close() })
	go func() {
		data, _ := io.ReadAll(cb)
		if at < len(data) {
			data[at] ^= 0x04
		}
		sb.Write(data)
		sb.Close()
	}()
	client, _ = NewConn(ca, is, nil)
	server, _ = NewConn(sa, rs, nil)
	return client, server
}

// TestConnTampered: a flipped bit in a header or payload fails the MAC and
// the Conn stays failed.
func TestConnTampered(t *testing.T) {
	for _, at := range []int{0, 21, 22, 22 + 50, 22 + 65534, 22 + 65535 + 3} {
		client, server := tamperedPair(t, at)
		payload := pattern(70000)
		if err := client.WriteFrame(header(0, 1, len(payload)), payload); err != nil {
			t.Fatal(err)
		}
		client.Close()
		_, _, err := server.ReadFrame()
		if !errors.Is(err, ErrDecrypt) {
			t.Errorf("byte %d flipped: %v, want ErrDecrypt", at, err)
		}
		if _, _, err2 := server.ReadFrame(); !errors.Is(err2, ErrDecrypt) {
			t.Errorf("byte %d: second read %v, want the same failure", at, err2)
		}
		if _, err2 := server.Read(make([]byte, 10)); !errors.Is(err2, ErrDecrypt) {
			t.Errorf("byte %d: Read after failure %v", at, err2)
		}
	}
}

// TestConnReadResumesAfterTimeout: a read deadline that fires mid-frame
// loses nothing; the next read completes the frame.
func TestConnReadResumesAfterTimeout(t *testing.T) {
	is, rs, _ := vectorSessions(t)
	rc, rsv := rawPair(t, "tcp")
	server, _ := NewConn(rsv, rs, nil)
	payload := pattern(1000)
	wire, err := is.send.sealFrame(nil, header(0, 7, len(payload)), payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{10, 22, 500} {
		if _, err := rc.Write(wire[:cut]); err != nil {
			t.Fatal(err)
		}
		server.SetReadDeadline(time.Now())
		_, _, err := server.ReadFrame()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("cut %d: %v, want timeout", cut, err)
		}
		server.SetReadDeadline(time.Time{})
		if _, err := rc.Write(wire[cut:]); err != nil {
			t.Fatal(err)
		}
		hdr, p, err := server.ReadFrame()
		if err != nil || hdr != header(0, 7, len(payload)) || !bytes.Equal(p, payload) {
			t.Fatalf("cut %d: %x %d %v", cut, hdr, len(p), err)
		}
		wire, _ = is.send.sealFrame(nil, header(0, 7, len(payload)), payload)
	}
}

func TestConnTruncated(t *testing.T) {
	is, rs, _ := vectorSessions(t)
	wire, _ := is.send.sealFrame(nil, header(0, 1, 100), pattern(100))
	c := feed(t, rs, wire[:60])
	if _, _, err := c.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v", err)
	}
}

func TestConnLimits(t *testing.T) {
	is, rs, _ := vectorSessions(t)
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	cfg := DefaultConfig()
	cfg.MaxPayload = 100
	server, err := NewConn(a, rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := NewConn(b, is, nil)
	if err := client.WriteFrame(header(0, 1, 5), pattern(6)); !errors.Is(err, ErrFrameLength) {
		t.Errorf("mismatched header: %v", err)
	}
	go client.WriteFrame(header(0, 1, 101), pattern(101))
	if _, _, err := server.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v", err)
	}
	bad := DefaultConfig()
	bad.MaxPayload = MaxPayload + 1
	if _, err := NewConn(a, rs, bad); err == nil {
		t.Error("MaxPayload above U24 accepted")
	}
}

func TestNonceExhausted(t *testing.T) {
	var c cipherState
	c.initKey([32]byte{1})
	c.n = 1<<64 - 2
	if _, err := c.seal(nil, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.seal(nil, nil, []byte("x")); !errors.Is(err, ErrNonceExhausted) {
		t.Errorf("%v, want ErrNonceExhausted", err)
	}
}

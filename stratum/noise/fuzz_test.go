package noise

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ellswift"
)

// memConn is a read-only net.Conn over a byte slice, so fuzz and benchmark
// iterations exercise Conn's decoder without a network round trip.
type memConn struct {
	r bytes.Reader
}

func (m *memConn) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzDecodeCertificate: decode → encode → decode is the identity.
func FuzzDecodeCertificate(f *testing.F) {
	var v certVector
	readJSON(f, "noise/certificate_derived.json", &v)
	for _, c := range v.Cases {
		f.Add(unhex(f, c.Message))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCertificate(b)
		if err != nil {
			if len(b) == CertificateSize {
				t.Fatalf("74 bytes refused: %v", err)
			}
			return
		}
		enc := c.Encode()
		if !bytes.Equal(enc[:], b) {
			t.Fatal("encode differs from input")
		}
		c2, err := DecodeCertificate(enc[:])
		if err != nil || c2 != c {
			t.Fatal("second decode differs")
		}
	})
}

// FuzzDecodeAuthorityKey: a string that decodes re-encodes to itself, and
// the key decodes again to the same value.
func FuzzDecodeAuthorityKey(f *testing.F) {
	var v authorityVectors
	readJSON(f, "noise/authority_keys_base58check.json", &v)
	f.Add(v.Spec.Encoded)
	f.Add(v.Example.Public)
	for _, bad := range v.KeyUtils.Invalid {
		f.Add(bad.String)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := DecodeAuthorityKey(s)
		if err != nil {
			return
		}
		if EncodeAuthorityKey(k) != s {
			t.Fatalf("%q re-encodes as %q", s, EncodeAuthorityKey(k))
		}
		if k2, err := DecodeAuthorityKey(EncodeAuthorityKey(k)); err != nil || k2 != k {
			t.Fatal("second decode differs")
		}
	})
}

// FuzzResponderAct1: every 64-byte act 1 decodes (BIP324: any string is an
// encoding) and yields a 234-byte act 2; other lengths are refused.
func FuzzResponderAct1(f *testing.F) {
	v := loadHandshakeVector(f)
	_, er, sr, _ := vectorKeys(f, v)
	cert, _ := DecodeCertificate(unhex(f, v.Act2.Cert.Message))
	f.Add(unhex(f, v.Act1.Message))
	f.Add(make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewResponder(sr, cert, fixedConfig(er, vectorNow))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ReadAct1(b); err != nil {
			if len(b) == Act1Size {
				t.Fatalf("64 bytes refused: %v", err)
			}
			return
		}
		x, err := DecodeEllSwift([64]byte(b))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		// The fraction-based decode equals the spec's direct transcription.
		var u, tt btcec.FieldVal
		u.SetByteSlice(b[:32])
		u.Normalize()
		tt.SetByteSlice(b[32:])
		tt.Normalize()
		want, err := ellswift.XSwiftEC(&u, &tt)
		if err != nil || x != *want.Bytes() {
			t.Fatalf("decode %x: %x, reference %x (%v)", b, x, want.Bytes(), err)
		}
		if _, _, err := r.Act2(); err != nil {
			t.Fatalf("act 2: %v", err)
		}
	})
}

// FuzzInitiatorAct2: only the genuine act 2 is accepted; everything else is
// refused without panicking.
func FuzzInitiatorAct2(f *testing.F) {
	v := loadHandshakeVector(f)
	ei, _, _, a := vectorKeys(f, v)
	genuine := unhex(f, v.Act2.Message)
	f.Add(genuine)
	f.Add(genuine[:200])
	f.Add(make([]byte, Act2Size))
	f.Fuzz(func(t *testing.T, b []byte) {
		ini, err := NewInitiator(a.PublicKey(), fixedConfig(ei, vectorNow))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ini.Act1(); err != nil {
			t.Fatal(err)
		}
		_, err = ini.ReadAct2(b)
		if (err == nil) != bytes.Equal(b, genuine) {
			t.Fatalf("accepted=%v for %x", err == nil, b)
		}
	})
}

// FuzzReadFrame feeds arbitrary bytes to the transport reader. Every frame
// it returns must re-encrypt, under the same key and nonces, to exactly the
// bytes it consumed (decode → encode → decode identity for AEAD frames).
func FuzzReadFrame(f *testing.F) {
	v := loadHandshakeVector(f)
	k2 := unhex32(f, v.Act2.Split.K2)
	r1 := v.frame(f, "responder_frame_1")
	wire := unhex(f, r1.Wire)
	f.Add(wire)
	f.Add(append(append([]byte{}, wire...), wire[:30]...))
	var seed cipherState
	seed.initKey(k2)
	two, _ := seed.sealFrame(nil, header(0, 1, 0), nil)
	two, _ = seed.sealFrame(two, header(0x8000, 0x1b, 70), pattern(70))
	f.Add(two)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sess := &Session{}
		sess.recv.initKey(k2)
		cfg := DefaultConfig()
		cfg.MaxPayload = 1 << 20
		mc := &memConn{}
		mc.r.Reset(b)
		c, err := NewConn(mc, sess, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var again cipherState
		again.initKey(k2)
		var resealed []byte
		for {
			hdr, p, err := c.ReadFrame()
			if err != nil {
				if err == io.EOF && len(resealed) != len(b) {
					t.Fatalf("io.EOF after %d of %d bytes", len(resealed), len(b))
				}
				break
			}
			if msgLength(hdr[:]) != len(p) {
				t.Fatalf("header says %d, payload %d", msgLength(hdr[:]), len(p))
			}
			if resealed, err = again.sealFrame(resealed, hdr, p); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, resealed) {
				t.Fatal("re-encrypted frames differ from input")
			}
		}
	})
}

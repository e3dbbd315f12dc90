package sv2

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
)

func TestReadFrameShortReads(t *testing.T) {
	for _, v := range allFrameVectors(t) {
		frame := v.frame(t)
		for cut := 0; cut < len(frame); cut++ {
			_, err := ReadFrame(bytes.NewReader(frame[:cut]))
			want := io.ErrUnexpectedEOF
			if cut == 0 {
				want = io.EOF
			}
			if err != want {
				t.Fatalf("%s cut at %d: %v, want %v", v.Message, cut, err, want)
			}
		}
		// A reader failing mid-frame surfaces its own error.
		boom := errors.New("boom")
		r := io.MultiReader(bytes.NewReader(frame[:len(frame)-1]), &errReader{boom})
		if _, err := ReadFrame(r); !errors.Is(err, boom) {
			t.Fatalf("%s: reader error = %v", v.Message, err)
		}
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// limitedWriter accepts max bytes, then fails (or, with short, reports a
// short count without an error, which a broken Writer might do).
type limitedWriter struct {
	buf   bytes.Buffer
	max   int
	short bool
}

var errWriteLimit = errors.New("write limit")

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) <= w.max {
		return w.buf.Write(p)
	}
	n := w.max - w.buf.Len()
	w.buf.Write(p[:n])
	if w.short {
		return n, nil
	}
	return n, errWriteLimit
}

func TestWriteFrameShortWrites(t *testing.T) {
	for _, v := range allFrameVectors(t) {
		m := expected(t, v)
		frame := v.frame(t)
		for max := 0; max < len(frame); max++ {
			w := &limitedWriter{max: max}
			if err := WriteFrame(w, m); !errors.Is(err, errWriteLimit) {
				t.Fatalf("%s limit %d: %v", v.Message, max, err)
			}
			w = &limitedWriter{max: max, short: true}
			if err := WriteFrame(w, m); err != io.ErrShortWrite {
				t.Fatalf("%s short %d: %v", v.Message, max, err)
			}
		}
	}
}

// countingReader returns a header and then endless zeros, counting what
// was read, so a test can see how much of a bogus payload was consumed.
type countingReader struct {
	hdr []byte
	n   int
}

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		if c.n < len(c.hdr) {
			p[i] = c.hdr[c.n]
		} else {
			p[i] = 0
		}
		c.n++
	}
	return len(p), nil
}

func TestReadFrameOversizeRejectedBeforeAllocation(t *testing.T) {
	for _, ext := range []uint16{ExtensionCore, ExtensionNegotiation} {
		for typ := range 256 {
			m := NewMessage(ext, MsgType(typ))
			if m == nil || m.MaxPayloadLength() >= MaxFrameLength {
				continue
			}
			h := HeaderFor(m, int(m.MaxPayloadLength())+1)
			hdr, _ := AppendHeader(nil, h)
			r := &countingReader{hdr: hdr}
			_, err := ReadFrame(r)
			var me *MessageError
			if !errors.As(err, &me) || !errors.Is(err, ErrPayloadTooLarge) {
				t.Fatalf("%s: %v", MessageName(ext, MsgType(typ)), err)
			}
			if r.n != HeaderSize {
				t.Fatalf("%s: read %d bytes, want only the header", MessageName(ext, MsgType(typ)), r.n)
			}
			if _, err := DecodeMessage(h, make([]byte, h.Length)); !errors.Is(err, ErrPayloadTooLarge) {
				t.Fatalf("%s: DecodeMessage: %v", MessageName(ext, MsgType(typ)), err)
			}
			if MaxPayloadFor(h) != m.MaxPayloadLength() {
				t.Fatalf("%s: MaxPayloadFor disagrees", MessageName(ext, MsgType(typ)))
			}
		}
	}

	// A 16 MiB msg_length on a 24-byte message must not cost 16 MiB.
	hdr, _ := AppendHeader(nil, Header{ExtensionType: ChannelMsgBit, MsgType: MsgTypeSubmitSharesStandard, Length: MaxFrameLength})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(&countingReader{hdr: hdr})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("rejecting an oversized frame allocated %d bytes", grew)
	}
}

func TestDecodeRejectsTrailingBytes(t *testing.T) {
	for _, v := range allFrameVectors(t) {
		h, _ := ParseHeader(v.frame(t))
		payload := append(v.payload(t), 0x00)
		h.Length = uint32(len(payload))
		var me *MessageError
		if _, err := DecodeMessage(h, payload); !errors.As(err, &me) {
			t.Fatalf("%s + 1 byte: DecodeMessage: %v", v.Message, err)
		}
		err := NewMessage(h.ExtensionType, h.MsgType).Decode(payload)
		// SubmitSharesExtended reads what follows as a TLV, which is then short.
		if h.MsgType == MsgTypeSubmitSharesExtended && h.Extension() == ExtensionCore {
			if !errors.Is(err, ErrShortPayload) {
				t.Fatalf("%s + 1 byte: %v", v.Message, err)
			}
			continue
		}
		if !errors.Is(err, ErrTrailingBytes) {
			t.Fatalf("%s + 1 byte: %v, want ErrTrailingBytes", v.Message, err)
		}
	}
}

// TestDecodeTruncated cuts every payload at every length. A cut may only
// decode if it is itself a valid layout (old OpenExtendedMiningChannel.Success
// without group_channel_id, a share without its TLVs), and then it must
// encode back to exactly the cut bytes.
func TestDecodeTruncated(t *testing.T) {
	for _, v := range allFrameVectors(t) {
		h, _ := ParseHeader(v.frame(t))
		payload := v.payload(t)
		for cut := 0; cut < len(payload); cut++ {
			m := NewMessage(h.ExtensionType, h.MsgType)
			err := m.Decode(payload[:cut:cut])
			if err != nil {
				if !errors.Is(err, ErrShortPayload) {
					t.Fatalf("%s cut %d: %v, want ErrShortPayload", v.Message, cut, err)
				}
				continue
			}
			switch m.(type) {
			case *OpenExtendedMiningChannelSuccess, *SubmitSharesExtended:
			default:
				t.Fatalf("%s: %d-byte prefix decoded", v.Message, cut)
			}
			enc, err := m.Encode(nil)
			if err != nil || !bytes.Equal(enc, payload[:cut]) {
				t.Fatalf("%s cut %d: re-encoded %x, %v", v.Message, cut, enc, err)
			}
		}
	}
}

func TestReadFrameMalformedKnownMessage(t *testing.T) {
	// A SetExtranoncePrefix whose B0_32 says 33 bytes, within the frame
	// maximum but beyond the type's.
	payload := append([]byte{1, 0, 0, 0, 33}, make([]byte, 32)...)
	frame, _ := AppendHeader(nil, Header{ExtensionType: ChannelMsgBit, MsgType: MsgTypeSetExtranoncePrefix, Length: uint32(len(payload))})
	frame = append(frame, payload...)
	next, _ := AppendFrame(nil, &SetTarget{ChannelID: 7})
	r := bytes.NewReader(append(frame, next...))
	_, err := ReadFrame(r)
	var me *MessageError
	if !errors.As(err, &me) || !errors.Is(err, ErrFieldTooLong) || me.MsgType != MsgTypeSetExtranoncePrefix {
		t.Fatalf("err = %v", err)
	}
	// The payload was consumed, so the stream is still in step.
	m, err := ReadFrame(r)
	if st, ok := m.(*SetTarget); err != nil || !ok || st.ChannelID != 7 {
		t.Fatalf("next frame = %#v, %v", m, err)
	}
}

func TestUnknownFrames(t *testing.T) {
	// A Job Declaration message (not implemented here) on extension 0, an
	// experimental extension channel message, and an oversized unknown.
	jd := []byte{0x00, 0x00, 0x57, 0x03, 0x00, 0x00, 0xaa, 0xbb, 0xcc}
	exp := []byte{0x01, 0xc0, 0x07, 0x06, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0xde, 0xad}
	big, _ := AppendHeader(nil, Header{ExtensionType: 0x4000, MsgType: 1, Length: MaxUnknownPayload + 1})
	big = append(big, make([]byte, MaxUnknownPayload+1)...)
	after, _ := AppendFrame(nil, &CloseChannel{ChannelID: 9, ReasonCode: "bye"})

	var stream []byte
	for _, f := range [][]byte{jd, exp, big, after} {
		stream = append(stream, f...)
	}
	r := bytes.NewReader(stream)

	m, err := ReadFrame(r)
	u, ok := m.(*Unknown)
	if err != nil || !ok || u.ExtensionType() != 0 || u.MsgType() != 0x57 || u.ChannelMsg() {
		t.Fatalf("JD frame: %#v, %v", m, err)
	}
	if _, ok := u.ChannelID(); ok {
		t.Fatal("non-channel frame reported a channel id")
	}
	if enc, err := AppendFrame(nil, u); err != nil || !bytes.Equal(enc, jd) {
		t.Fatalf("JD frame re-encoded %x, %v", enc, err)
	}

	m, err = ReadFrame(r)
	u, ok = m.(*Unknown)
	if err != nil || !ok || u.ExtensionType() != 0x4001 || !u.ChannelMsg() {
		t.Fatalf("extension frame: %#v, %v", m, err)
	}
	if id, ok := u.ChannelID(); !ok || id != 5 {
		t.Fatalf("ChannelID = %d, %v", id, ok)
	}
	if !u.SetChannelID(0x01020304) {
		t.Fatal("SetChannelID refused")
	}
	want := append([]byte{0x01, 0xc0, 0x07, 0x06, 0x00, 0x00, 0x04, 0x03, 0x02, 0x01}, 0xde, 0xad)
	if enc, err := AppendFrame(nil, u); err != nil || !bytes.Equal(enc, want) {
		t.Fatalf("forwarded frame %x, %v; want %x", enc, err, want)
	}

	m, err = ReadFrame(r)
	u, ok = m.(*Unknown)
	if err != nil || !ok || !u.Dropped || u.Payload != nil {
		t.Fatalf("oversized unknown: %#v, %v", m, err)
	}
	if _, err := AppendFrame(nil, u); !errors.Is(err, ErrDroppedPayload) {
		t.Fatalf("encoding a dropped frame: %v", err)
	}

	m, err = ReadFrame(r)
	if cc, ok := m.(*CloseChannel); err != nil || !ok || cc.ChannelID != 9 || cc.ReasonCode != "bye" {
		t.Fatalf("frame after the skipped one: %#v, %v", m, err)
	}
}

// TestChannelBitIgnoredOnReceive flips the channel bit of every vector: the
// message must decode the same, and re-encode with the current table.
func TestChannelBitIgnoredOnReceive(t *testing.T) {
	for _, v := range allFrameVectors(t) {
		frame := v.frame(t)
		flipped := bytes.Clone(frame)
		flipped[1] ^= 0x80
		m, err := ReadFrame(bytes.NewReader(flipped))
		if err != nil {
			t.Fatalf("%s with flipped bit: %v", v.Message, err)
		}
		if _, unknown := m.(*Unknown); unknown {
			t.Fatalf("%s with flipped bit decoded as unknown", v.Message)
		}
		if enc, _ := AppendFrame(nil, m); !bytes.Equal(enc, frame) {
			t.Fatalf("%s: re-encoded %x, want %x", v.Message, enc, frame)
		}
	}
}

func TestAppendFrameAllOrNothing(t *testing.T) {
	long := string(bytes.Repeat([]byte{'u'}, 256))
	cases := []Message{
		&OpenStandardMiningChannel{UserIdentity: long},
		&SetExtranoncePrefix{ExtranoncePrefix: make([]byte, 33)},
		&SubmitSharesExtended{Extranonce: make([]byte, 8), TLVs: []TLV{{ExtensionType: 2, FieldType: 1, Value: make([]byte, 33)}}},
		&NewExtendedMiningJob{MerklePath: make([]U256, 256)},
		&NewExtendedMiningJob{CoinbaseTxSuffix: make([]byte, MaxB064K+1)},
		&SetGroupChannel{ChannelIDs: make([]uint32, MaxSeq064K+1)},
		&Unknown{Dropped: true},
	}
	for _, m := range cases {
		dst := []byte("keep")
		out, err := AppendFrame(dst, m)
		if err == nil {
			t.Fatalf("%T: no error", m)
		}
		var me *MessageError
		if !errors.As(err, &me) && !errors.Is(err, ErrDroppedPayload) {
			t.Fatalf("%T: untyped error %v", m, err)
		}
		if string(out) != "keep" {
			t.Fatalf("%T: dst became %q", m, out)
		}
		if enc, err := m.Encode([]byte("x")); err == nil || string(enc) != "x" {
			t.Fatalf("%T: Encode returned %q, %v", m, enc, err)
		}
	}
}

func TestRegistry(t *testing.T) {
	known := 0
	for _, ext := range []uint16{0x0000, 0x8000, 0x0001, 0x8001, 0x0002, 0x4000, 0xffff} {
		for typ := range 256 {
			m := NewMessage(ext, MsgType(typ))
			if m == nil {
				continue
			}
			name := MessageName(ext, MsgType(typ))
			if m.MsgType() != MsgType(typ) || m.ExtensionType() != ext&^ChannelMsgBit {
				t.Fatalf("%s: constructor gives type %#x ext %#x", name, m.MsgType(), m.ExtensionType())
			}
			if m.MaxPayloadLength() > MaxFrameLength {
				t.Fatalf("%s: MaxPayloadLength %d beyond U24", name, m.MaxPayloadLength())
			}
			// The zero value encodes, fits its maximum, and decodes back.
			enc, err := m.Encode(nil)
			if err != nil || len(enc) > int(m.MaxPayloadLength()) {
				t.Fatalf("%s: zero value encodes to %d bytes, %v", name, len(enc), err)
			}
			if err := NewMessage(ext, MsgType(typ)).Decode(enc); err != nil {
				t.Fatalf("%s: zero value does not decode: %v", name, err)
			}
			if ext&ChannelMsgBit == 0 {
				known++
			}
		}
	}
	// 5 Common + 21 Mining + 7 Template Distribution + 3 Extensions Negotiation.
	if known != 36 {
		t.Fatalf("%d message types registered, want 36", known)
	}
	if got := MessageName(0, 0x1e); got != "unknown(0x0000,0x1e)" {
		t.Fatalf("reserved 0x1e named %q", got)
	}
}

func TestOpenExtendedMiningChannelSuccessWithoutGroupChannelID(t *testing.T) {
	for _, v := range allFrameVectors(t) {
		if h, _ := ParseHeader(v.frame(t)); h.MsgType != MsgTypeOpenExtendedMiningChannelSuccess {
			continue
		}
		old := v.payload(t)
		old = old[:len(old)-4]
		var m OpenExtendedMiningChannelSuccess
		if err := m.Decode(old); err != nil {
			t.Fatal(err)
		}
		want := *expected(t, v).(*OpenExtendedMiningChannelSuccess)
		want.GroupChannelID, want.OmitGroupChannelID = 0, true
		if m.RequestID != want.RequestID || m.ExtranonceSize != want.ExtranonceSize ||
			!bytes.Equal(m.ExtranoncePrefix, want.ExtranoncePrefix) || !m.OmitGroupChannelID || m.GroupChannelID != 0 {
			t.Fatalf("got %+v", m)
		}
		if enc, _ := m.Encode(nil); !bytes.Equal(enc, old) {
			t.Fatalf("re-encoded %x, want %x", enc, old)
		}
		// Two or three trailing bytes are neither layout.
		for _, n := range []int{1, 2, 3} {
			if err := m.Decode(append(bytes.Clone(old), make([]byte, n)...)); !errors.Is(err, ErrShortPayload) {
				t.Fatalf("%d extra bytes: %v", n, err)
			}
		}
		return
	}
	t.Fatal("no OpenExtendedMiningChannel.Success vector")
}

func TestBoolAndOptionDecoding(t *testing.T) {
	for _, v := range allFrameVectors(t) {
		h, _ := ParseHeader(v.frame(t))
		if h.MsgType != MsgTypeNewExtendedMiningJob {
			continue
		}
		p := v.payload(t)
		// Layout: channel_id, job_id, OPTION count at 8.
		boolAt := 8 + 1 + 4
		if p[8] == 1 {
			boolAt += 4
		}
		// BOOL: bits 1-7 are ignored, so 0xfe is false and 0x03 true.
		for b, want := range map[byte]bool{0xfe: false, 0x03: true} {
			q := bytes.Clone(p)
			q[boolAt] = b
			var m NewExtendedMiningJob
			if err := m.Decode(q); err != nil || m.VersionRollingAllowed != want {
				t.Fatalf("%s BOOL %#x: %v, %v", v.Message, b, m.VersionRollingAllowed, err)
			}
		}
		// OPTION counts other than 0 and 1 are malformed.
		q := bytes.Clone(p)
		q[8] = 2
		var m NewExtendedMiningJob
		if err := m.Decode(q); !errors.Is(err, ErrInvalidOption) {
			t.Fatalf("%s OPTION count 2: %v", v.Message, err)
		}
	}
}

func TestSeqCountCheckedBeforeAllocation(t *testing.T) {
	// SetGroupChannel announcing 65535 ids with none present, and
	// RequestTransactionData.Success announcing 65535 transactions.
	for _, m := range []Message{&SetGroupChannel{}, &RequestTransactionDataSuccess{}} {
		var p []byte
		if _, ok := m.(*SetGroupChannel); ok {
			p = []byte{1, 0, 0, 0, 0xff, 0xff}
		} else {
			p = []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := m.Decode(p)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrShortPayload) {
			t.Fatalf("%T: %v", m, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Fatalf("%T: allocated %d bytes for an impossible count", m, grew)
		}
	}
}

func TestSetUserIdentityKeepsTLVOrder(t *testing.T) {
	m := &SubmitSharesExtended{TLVs: []TLV{{ExtensionType: 1, FieldType: 1}, {ExtensionType: 5, FieldType: 1}}}
	m.SetUserIdentity("rig-1")
	m.SetUserIdentity("rig-2")
	if len(m.TLVs) != 3 || m.TLVs[1].ExtensionType != ExtensionWorkerHashrateTracking {
		t.Fatalf("TLVs = %+v", m.TLVs)
	}
	if name, ok := m.UserIdentity(); !ok || name != "rig-2" {
		t.Fatalf("UserIdentity = %q, %v", name, ok)
	}
	if _, ok := (&SubmitSharesExtended{}).UserIdentity(); ok {
		t.Fatal("UserIdentity on a share without TLVs")
	}
}

// TestTCPLoopback sends every vector message over a real TCP connection
// and reads them back on the other side.
func TestTCPLoopback(t *testing.T) {
	vs := allFrameVectors(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		var buf []byte
		for _, v := range vs {
			if buf, err = AppendFrame(buf[:0], expected(t, v)); err != nil {
				sent <- err
				return
			}
			if _, err = c.Write(buf); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, v := range vs {
		m, err := ReadFrame(c)
		if err != nil {
			t.Fatalf("%s: %v", v.Message, err)
		}
		if enc, _ := AppendFrame(nil, m); !bytes.Equal(enc, v.frame(t)) {
			t.Fatalf("%s: got %x", v.Message, enc)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFrame(c); err != io.EOF {
		t.Fatalf("after the sender closed: %v, want io.EOF", err)
	}
}

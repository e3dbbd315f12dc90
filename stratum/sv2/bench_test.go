package sv2

import (
	"bytes"
	"testing"
)

// benchVector returns the last vector of a type: the share with a worker
// TLV, the job with a two-node merkle path.
func benchVector(b *testing.B, typ MsgType) (m Message, frame []byte) {
	b.Helper()
	for _, v := range allFrameVectors(b) {
		if h, _ := ParseHeader(v.frame(b)); h.Extension() == ExtensionCore && h.MsgType == typ {
			m, frame = expected(b, v), v.frame(b)
		}
	}
	if m == nil {
		b.Fatalf("no vector for %#x", typ)
	}
	return m, frame
}

func benchEncode(b *testing.B, typ MsgType) {
	m, frame := benchVector(b, typ)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.Equal(buf, frame) {
		b.Fatalf("encoded %x", buf)
	}
}

func benchDecode(b *testing.B, typ MsgType) {
	m, frame := benchVector(b, typ)
	payload := frame[HeaderSize:]
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func benchReadFrame(b *testing.B, typ MsgType) {
	_, frame := benchVector(b, typ)
	r := bytes.NewReader(frame)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		if _, err := ReadFrame(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSubmitSharesExtended(b *testing.B) { benchEncode(b, MsgTypeSubmitSharesExtended) }
func BenchmarkDecodeSubmitSharesExtended(b *testing.B) { benchDecode(b, MsgTypeSubmitSharesExtended) }
func BenchmarkReadFrameSubmitSharesExtended(b *testing.B) {
	benchReadFrame(b, MsgTypeSubmitSharesExtended)
}
func BenchmarkEncodeNewExtendedMiningJob(b *testing.B) { benchEncode(b, MsgTypeNewExtendedMiningJob) }
func BenchmarkDecodeNewExtendedMiningJob(b *testing.B) { benchDecode(b, MsgTypeNewExtendedMiningJob) }
func BenchmarkReadFrameNewExtendedMiningJob(b *testing.B) {
	benchReadFrame(b, MsgTypeNewExtendedMiningJob)
}

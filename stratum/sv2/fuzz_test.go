package sv2

import (
	"bytes"
	"reflect"
	"testing"
)

// fuzzRoundTrip checks decode → encode → decode: whatever decodes must
// encode, and the re-encoding must decode to an equal message and encode
// to the same bytes again. Seeds are the vector payloads of the type plus
// its zero value.
func fuzzRoundTrip(f *testing.F, newMsg func() Message) {
	proto := newMsg()
	zero, err := proto.Encode(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(zero)
	for _, v := range allFrameVectors(f) {
		if h, _ := ParseHeader(v.frame(f)); h.Extension() == proto.ExtensionType() && h.MsgType == proto.MsgType() {
			f.Add(v.payload(f))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m1 := newMsg()
		if err := m1.Decode(payload); err != nil {
			return
		}
		if len(payload) > int(m1.MaxPayloadLength()) {
			t.Fatalf("decoded %d bytes, beyond MaxPayloadLength %d", len(payload), m1.MaxPayloadLength())
		}
		e1, err := m1.Encode(nil)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2 := newMsg()
		if err := m2.Decode(e1); err != nil {
			t.Fatalf("re-encoding %x does not decode: %v", e1, err)
		}
		e2, err := m2.Encode(nil)
		if err != nil || !bytes.Equal(e1, e2) {
			t.Fatalf("encodings differ: %x / %x (%v)", e1, e2, err)
		}
		// Structural equality, unless a NaN F32 makes a message unequal to
		// itself (its bits were already compared above).
		m1b := newMsg()
		_ = m1b.Decode(payload)
		if reflect.DeepEqual(m1, m1b) && !reflect.DeepEqual(m1, m2) {
			t.Fatalf("decode(encode(m)) != m:\n%#v\n%#v", m1, m2)
		}
	})
}

func FuzzSetupConnection(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetupConnection) })
}

func FuzzSetupConnectionSuccess(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetupConnectionSuccess) })
}

func FuzzSetupConnectionError(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetupConnectionError) })
}

func FuzzChannelEndpointChanged(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(ChannelEndpointChanged) })
}

func FuzzReconnect(f *testing.F) { fuzzRoundTrip(f, func() Message { return new(Reconnect) }) }

func FuzzOpenStandardMiningChannel(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(OpenStandardMiningChannel) })
}

func FuzzOpenStandardMiningChannelSuccess(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(OpenStandardMiningChannelSuccess) })
}

func FuzzOpenMiningChannelError(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(OpenMiningChannelError) })
}

func FuzzOpenExtendedMiningChannel(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(OpenExtendedMiningChannel) })
}

func FuzzOpenExtendedMiningChannelSuccess(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(OpenExtendedMiningChannelSuccess) })
}

func FuzzNewMiningJob(f *testing.F) { fuzzRoundTrip(f, func() Message { return new(NewMiningJob) }) }

func FuzzUpdateChannel(f *testing.F) { fuzzRoundTrip(f, func() Message { return new(UpdateChannel) }) }

func FuzzUpdateChannelError(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(UpdateChannelError) })
}

func FuzzCloseChannel(f *testing.F) { fuzzRoundTrip(f, func() Message { return new(CloseChannel) }) }

func FuzzSetExtranoncePrefix(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetExtranoncePrefix) })
}

func FuzzSubmitSharesStandard(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SubmitSharesStandard) })
}

func FuzzSubmitSharesExtended(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SubmitSharesExtended) })
}

func FuzzSubmitSharesSuccess(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SubmitSharesSuccess) })
}

func FuzzSubmitSharesError(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SubmitSharesError) })
}

func FuzzNewExtendedMiningJob(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(NewExtendedMiningJob) })
}

func FuzzSetNewPrevHash(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetNewPrevHash) })
}

func FuzzSetTarget(f *testing.F) { fuzzRoundTrip(f, func() Message { return new(SetTarget) }) }

func FuzzSetCustomMiningJob(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetCustomMiningJob) })
}

func FuzzSetCustomMiningJobSuccess(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetCustomMiningJobSuccess) })
}

func FuzzSetCustomMiningJobError(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetCustomMiningJobError) })
}

func FuzzSetGroupChannel(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SetGroupChannel) })
}

func FuzzCoinbaseOutputConstraints(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(CoinbaseOutputConstraints) })
}

func FuzzNewTemplate(f *testing.F) { fuzzRoundTrip(f, func() Message { return new(NewTemplate) }) }

func FuzzTemplateSetNewPrevHash(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(TemplateSetNewPrevHash) })
}

func FuzzRequestTransactionData(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(RequestTransactionData) })
}

func FuzzRequestTransactionDataSuccess(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(RequestTransactionDataSuccess) })
}

func FuzzRequestTransactionDataError(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(RequestTransactionDataError) })
}

func FuzzSubmitSolution(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(SubmitSolution) })
}

func FuzzRequestExtensions(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(RequestExtensions) })
}

func FuzzRequestExtensionsSuccess(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(RequestExtensionsSuccess) })
}

func FuzzRequestExtensionsError(f *testing.F) {
	fuzzRoundTrip(f, func() Message { return new(RequestExtensionsError) })
}

// FuzzReadFrame feeds arbitrary streams to ReadFrame: it must never panic,
// and every frame it returns must encode back to the bytes it consumed,
// except where decoding normalises (BOOL high bits, the channel bit).
func FuzzReadFrame(f *testing.F) {
	for _, v := range allFrameVectors(f) {
		f.Add(v.frame(f))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		for {
			m, err := ReadFrame(r)
			if err != nil {
				return
			}
			enc, err := AppendFrame(nil, m)
			if err != nil {
				if u, ok := m.(*Unknown); ok && u.Dropped {
					continue
				}
				t.Fatalf("decoded %T does not encode: %v", m, err)
			}
			m2, err := ReadFrame(bytes.NewReader(enc))
			if err != nil {
				t.Fatalf("re-encoded frame %x does not read: %v", enc, err)
			}
			enc2, _ := AppendFrame(nil, m2)
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("frame encodings differ: %x / %x", enc, enc2)
			}
		}
	})
}

func FuzzParseTLVs(f *testing.F) {
	f.Add([]byte{0x02, 0x00, 0x01, 0x04, 0x00, 't', 'e', 's', 't'})
	f.Add([]byte{0x00, 0x02, 0x01, 0x00, 0x0a})
	f.Fuzz(func(t *testing.T, b []byte) {
		tlvs, err := ParseTLVs(b)
		if err != nil {
			return
		}
		var enc []byte
		for _, x := range tlvs {
			if enc, err = AppendTLV(enc, x); err != nil {
				t.Fatalf("parsed TLV does not encode: %v", err)
			}
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("TLVs re-encode to %x, want %x", enc, b)
		}
	})
}

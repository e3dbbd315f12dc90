package firmware

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// seedReplies adds the wire bodies of testdata/firmware/<dir>/*.json.
func seedReplies(f *testing.F, dir string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "firmware", dir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", dir, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var v struct {
			Reply json.RawMessage `json:"reply"`
		}
		if err := json.Unmarshal(b, &v); err != nil || len(v.Reply) == 0 {
			f.Fatalf("%s: %v", p, err)
		}
		f.Add([]byte(v.Reply))
	}
}

// roundTrip checks decode → encode → decode equality for a JSON type.
func roundTrip[T any](t *testing.T, first *T) {
	t.Helper()
	enc, err := json.Marshal(first)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var second T
	if err := json.Unmarshal(enc, &second); err != nil {
		t.Fatalf("re-decode of %s: %v", enc, err)
	}
	// RawMessage fields come back compacted; compare re-encodings too.
	enc2, err := json.Marshal(&second)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("round trip differs:\n%s\n%s", enc, enc2)
	}
	if !reflect.DeepEqual(normalise(first), normalise(&second)) {
		t.Fatalf("round trip differs: %+v vs %+v", first, &second)
	}
}

// normalise compacts raw JSON inside values so formatting is not compared.
func normalise(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func FuzzDecodeLuxReply(f *testing.F) {
	seedReplies(f, "luxos")
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeLuxReply(b); err == nil {
			roundTrip(t, r)
		}
		if r, err := DecodeLuxMultiReply(b); err == nil {
			roundTrip(t, r)
		}
	})
}

func FuzzDecodeWhatsminerReply(f *testing.F) {
	seedReplies(f, "whatsminer")
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeWhatsminerReply(b); err == nil {
			_ = r.Text()
			roundTrip(t, r)
		}
		var s WhatsminerSummaryReply
		if json.Unmarshal(b, &s) == nil {
			roundTrip(t, &s)
		}
	})
}

func FuzzWhatsminerEnvelope(f *testing.F) {
	f.Add([]byte(`{"cmd":"power_off","token":"abc","respbefore":"true"}`), "admin", "BQ5hoXV9")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, plain []byte, pw, salt string) {
		key := WhatsminerDerive(pw, WhatsminerToken{Salt: salt, NewSalt: salt}).Key
		enc := WhatsminerEncrypt(key, plain)
		got, err := WhatsminerDecrypt(key, enc)
		if len(plain) > 0 && err != nil {
			t.Fatal(err)
		}
		if err == nil && !bytes.Equal(got, bytes.TrimRight(plain, "\x00")) {
			t.Fatalf("decrypt(encrypt(%q)) = %q", plain, got)
		}
		// Arbitrary input must fail cleanly, never panic.
		_, _ = WhatsminerDecrypt(key, string(plain))
		_, _ = decodeWhatsminerWriteReply(key, plain)
	})
}

func FuzzDecodeRESTReplies(f *testing.F) {
	seedReplies(f, "bitaxe")
	seedReplies(f, "vnish")
	seedReplies(f, "antminer")
	f.Fuzz(func(t *testing.T, b []byte) {
		var bi BitaxeInfo
		if json.Unmarshal(b, &bi) == nil {
			roundTrip(t, &bi)
		}
		var vs VNishSummary
		if json.Unmarshal(b, &vs) == nil {
			roundTrip(t, &vs)
		}
		var vp VNishPresets
		if json.Unmarshal(b, &vp) == nil {
			roundTrip(t, &vp)
			for _, p := range vp.Presets {
				_, _ = p.Watts()
			}
		}
		var ac AntminerConf
		if json.Unmarshal(b, &ac) == nil {
			_ = ac.WorkMode()
			roundTrip(t, &ac)
		}
	})
}

// protoMsg is implemented by every Braiins message.
type protoMsg interface {
	MarshalProto() []byte
	UnmarshalProto([]byte) error
}

func braiinsMessages() []func() protoMsg {
	return []func() protoMsg{
		func() protoMsg { return new(BraiinsLoginRequest) },
		func() protoMsg { return new(BraiinsLoginResponse) },
		func() protoMsg { return new(BraiinsFlagResponse) },
		func() protoMsg { return new(BraiinsSetPowerTargetRequest) },
		func() protoMsg { return new(BraiinsPowerResponse) },
		func() protoMsg { return new(BraiinsTunerState) },
		func() protoMsg { return new(BraiinsMinerStats) },
		func() protoMsg { return new(BraiinsMinerStatus) },
		func() protoMsg { return new(BraiinsConstraints) },
	}
}

func FuzzBraiinsMessages(f *testing.F) {
	for _, m := range []protoMsg{
		&BraiinsLoginRequest{Username: "root", Password: "pw"},
		&BraiinsLoginResponse{Token: "eUInGZBQ4yGyKiDe", TimeoutS: 3600},
		&BraiinsFlagResponse{Already: true},
		&BraiinsSetPowerTargetRequest{SaveAction: BraiinsSaveActionSaveAndApply, Watt: 3000},
		&BraiinsPowerResponse{Watt: 3000},
		&BraiinsTunerState{Overall: 2, HasTarget: true, TargetW: 3000},
		&BraiinsMinerStats{GHs5s: 200123.4, PowerW: 3500},
		&BraiinsMinerStatus{Status: BraiinsMinerPaused},
		&BraiinsConstraints{DefaultW: 3500, MinW: 1500, MaxW: 4000},
	} {
		f.Add(m.MarshalProto())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mk := range braiinsMessages() {
			first := mk()
			if first.UnmarshalProto(b) != nil {
				continue
			}
			second := mk()
			if err := second.UnmarshalProto(first.MarshalProto()); err != nil {
				t.Fatalf("%T: re-decode: %v", first, err)
			}
			if s1, ok := first.(*BraiinsMinerStats); ok {
				s2 := second.(*BraiinsMinerStats)
				if s1.PowerW != s2.PowerW || !(s1.GHs5s == s2.GHs5s || math.IsNaN(s1.GHs5s) && math.IsNaN(s2.GHs5s)) {
					t.Fatalf("%+v vs %+v", s1, s2)
				}
				continue
			}
			if !reflect.DeepEqual(first, second) {
				t.Fatalf("%T round trip: %+v vs %+v", first, first, second)
			}
		}
	})
}

func FuzzReadReply(f *testing.F) {
	f.Add([]byte(`{"STATUS":[{"STATUS":"S"}]}` + "\x00trailing"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readReply(bytes.NewReader(b), 4096)
		if err == nil && (len(got) > 4096 || bytes.IndexByte(got, 0) >= 0) {
			t.Fatalf("reply %d bytes with NUL or over cap", len(got))
		}
	})
}

func FuzzDigestChallenge(f *testing.F) {
	f.Add(`Digest realm="antMiner Configuration", nonce="abc", qop="auth", algorithm=MD5`)
	f.Add(`Digest nonce=",,,"`)
	f.Fuzz(func(t *testing.T, h string) {
		if c, err := parseDigestChallenge(h); err == nil {
			_ = c.authorization("root", "root", "GET", "/cgi-bin/get_miner_conf.cgi")
		}
	})
}

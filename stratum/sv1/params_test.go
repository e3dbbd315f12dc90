package sv1

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeParams decodes params into a fresh value for method and checks the
// decode→encode→decode round trip.
func decodeParams(t *testing.T, method, params string) (Params, error) {
	t.Helper()
	p := NewParams(method)
	if err := p.UnmarshalJSON([]byte(params)); err != nil {
		return nil, err
	}
	enc, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("%s %s: encode: %v", method, params, err)
	}
	q := NewParams(method)
	if err := q.UnmarshalJSON(enc); err != nil {
		t.Fatalf("%s %s: re-decode %s: %v", method, params, enc, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("%s %s: round trip via %s:\n got %#v\nwant %#v", method, params, enc, q, p)
	}
	return p, nil
}

func TestParamsVariants(t *testing.T) {
	cases := []struct {
		method, params string
		want           Params
	}{
		{MethodSubscribe, `[]`, &Subscribe{}},
		{MethodSubscribe, `null`, &Subscribe{}},
		{MethodSubscribe, `["bitaxe/BM1370/v2.7.0"]`, &Subscribe{UserAgent: "bitaxe/BM1370/v2.7.0"}},
		{MethodSubscribe, `["cgminer/4.10.0", "6b06cf6a"]`, &Subscribe{UserAgent: "cgminer/4.10.0", ResumeID: "6b06cf6a"}},
		{MethodSubscribe, `["bmminer/2.0.0","01000cc6",1928847164]`, &Subscribe{UserAgent: "bmminer/2.0.0", ResumeID: "01000cc6"}},
		{MethodSubscribe, `["Braiins OS 2019-06-05", null, "stratum.slushpool.com:3333", null]`,
			&Subscribe{UserAgent: "Braiins OS 2019-06-05", URL: "stratum.slushpool.com:3333"}},
		{MethodSubscribe, `["a", null, "h:1", 3333]`, &Subscribe{UserAgent: "a", URL: "h:1", Port: "3333"}},
		{MethodSubscribe, `[null, 17]`, &Subscribe{ResumeID: "17"}},
		{MethodAuthorize, `["user.worker","x"]`, &Authorize{Username: "user.worker", Password: "x"}},
		{MethodAuthorize, `["user"]`, &Authorize{Username: "user"}},
		{MethodAuthorize, `["user", null, "extra"]`, &Authorize{Username: "user"}},
		{MethodConfigure, `[["version-rolling"],{"version-rolling.mask":"ffffffff"}]`,
			&Configure{Extensions: []string{"version-rolling"}, VersionRollingMask: 0xffffffff, HasVersionRollingMask: true}},
		{MethodConfigure, `[["version-rolling"],{"version-rolling.mask":"1fffffe0","version-rolling.min-bit-count":"16"}]`,
			&Configure{Extensions: []string{"version-rolling"}, VersionRollingMask: 0x1fffffe0, HasVersionRollingMask: true, VersionRollingMinBitCount: 16, HasMinBitCount: true}},
		{MethodConfigure, `[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":"garbage"}]`,
			&Configure{Extensions: []string{"version-rolling"}, VersionRollingMask: 0x1fffe000, HasVersionRollingMask: true}},
		{MethodConfigure, `[["minimum-difficulty","version-rolling","subscribe-extranonce","info"],{"minimum-difficulty.value":2048.5,"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2,"info.connection-url":"pool:3333","info.hw-version":"S9","info.sw-version":"1.0","info.hw-id":"abc","x-unknown":[1]}]`,
			&Configure{Extensions: []string{"minimum-difficulty", "version-rolling", "subscribe-extranonce", "info"},
				VersionRollingMask: 0x1fffe000, HasVersionRollingMask: true, VersionRollingMinBitCount: 2, HasMinBitCount: true,
				MinimumDifficulty: "2048.5", InfoConnectionURL: "pool:3333", InfoHWVersion: "S9", InfoSWVersion: "1.0", InfoHWID: "abc"}},
		{MethodConfigure, `[[]]`, &Configure{Extensions: []string{}}},
		{MethodConfigure, `[["subscribe-extranonce"], null]`, &Configure{Extensions: []string{"subscribe-extranonce"}}},
		{MethodSetVersionMask, `["1fffe000"]`, &SetVersionMask{Mask: 0x1fffe000}},
		{MethodSetVersionMask, `["00003000"]`, &SetVersionMask{Mask: 0x3000}},
		{MethodSetDifficulty, `[16383.75]`, &SetDifficulty{Difficulty: "16383.75"}},
		{MethodSetDifficulty, `[4.0]`, &SetDifficulty{Difficulty: "4.0"}},
		{MethodSetDifficulty, `[9427.960695338843]`, &SetDifficulty{Difficulty: "9427.960695338843"}},
		{MethodSetDifficulty, `[1e3, "extra"]`, &SetDifficulty{Difficulty: "1e3"}},
		{MethodSetDifficulty, `[0.1]`, &SetDifficulty{Difficulty: "0.1"}},
		{MethodSuggestDifficulty, `[1000]`, &SuggestDifficulty{Difficulty: "1000"}},
		{MethodSuggestTarget, `["00000000ffff0000000000000000000000000000000000000000000000000000"]`,
			&SuggestTarget{Target: [32]byte{4: 0xff, 5: 0xff}}},
		{MethodExtranonceSubscribe, `[]`, &ExtranonceSubscribe{}},
		{MethodExtranonceSubscribe, `["ignored"]`, &ExtranonceSubscribe{}},
		{MethodSetExtranonce, `["deadbeef",8]`, &SetExtranonce{Extranonce1: []byte{0xde, 0xad, 0xbe, 0xef}, Extranonce2Size: 8}},
		{MethodReconnect, `[]`, &Reconnect{}},
		{MethodReconnect, `["stratum.slushpool.com", 3333, 1]`, &Reconnect{Host: "stratum.slushpool.com", Port: 3333, Wait: 1}},
		{MethodReconnect, `["pool.example", "3334", 0]`, &Reconnect{Host: "pool.example", Port: 3334, PortString: true}},
		{MethodReconnect, `["pool.example"]`, &Reconnect{Host: "pool.example"}},
		{MethodGetVersion, `[]`, &GetVersion{}},
		{MethodShowMessage, `["Welcome to the pool!"]`, &ShowMessage{Text: "Welcome to the pool!"}},
		{MethodShowMessage, `["\u003cb\u003e \"q\" \n é \u2028"]`, &ShowMessage{Text: "<b> \"q\" \n é \u2028"}},
		{MethodPing, `[]`, &Ping{}},
		{MethodMultiVersion, `[1]`, &MultiVersion{Count: 1}},
		{MethodGetTransactions, `["6b06d00700000015"]`, &GetTransactions{JobID: "6b06d00700000015"}},
		{MethodSubmit, `["w","j","00000000","5d10bc0a","0443c37b"]`,
			&Submit{Worker: "w", JobID: "j", Extranonce2: []byte{0, 0, 0, 0}, NTime: 0x5d10bc0a, Nonce: 0x0443c37b}},
		{MethodSubmit, `["spotbtc1.m30s40x16", "2", "147a3f0000000000", "6436eddf", "41d5deb0", "00000000"]`,
			&Submit{Worker: "spotbtc1.m30s40x16", JobID: "2", Extranonce2: []byte{0x14, 0x7a, 0x3f, 0, 0, 0, 0, 0}, NTime: 0x6436eddf, Nonce: 0x41d5deb0, HasVersionBits: true}},
		{MethodSubmit, `["w","j","C7080000",1689514988,3980791185,"00002000","extra"]`,
			&Submit{Worker: "w", JobID: "j", Extranonce2: []byte{0xc7, 0x08, 0, 0}, NTime: 0x64b3f3ec, Nonce: 0xed460d91, VersionBits: 0x2000, HasVersionBits: true}},
		{MethodSubmit, `["w",12,"00","1","2",null]`, &Submit{Worker: "w", JobID: "12", Extranonce2: []byte{0}, NTime: 1, Nonce: 2}},
	}
	for _, tc := range cases {
		got, err := decodeParams(t, tc.method, tc.params)
		if err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.params, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s:\n got %#v\nwant %#v", tc.method, tc.params, got, tc.want)
		}
	}
}

func TestParamsErrors(t *testing.T) {
	cases := []struct{ method, params string }{
		{MethodSubscribe, `{"agent":"x"}`},
		{MethodSubscribe, `[5]`},
		{MethodSubscribe, `["a",null,"h",true]`},
		{MethodSubscribe, `["a"`},
		{MethodAuthorize, `[]`},
		{MethodAuthorize, `[1,"x"]`},
		{MethodAuthorize, `["u",2]`},
		{MethodConfigure, `[]`},
		{MethodConfigure, `["version-rolling"]`},
		{MethodConfigure, `[[1]]`},
		{MethodConfigure, `[["version-rolling"],[]]`},
		{MethodConfigure, `[["version-rolling"],{"version-rolling.mask":"xyz"}]`},
		{MethodConfigure, `[["version-rolling"],{"version-rolling.mask":"123456789"}]`},
		{MethodConfigure, `[["minimum-difficulty"],{"minimum-difficulty.value":-1}]`},
		{MethodConfigure, `[["minimum-difficulty"],{"minimum-difficulty.value":"2048"}]`},
		{MethodSetVersionMask, `[]`},
		{MethodSetVersionMask, `[536862720]`},
		{MethodSetDifficulty, `[]`},
		{MethodSetDifficulty, `["1024"]`},
		{MethodSetDifficulty, `[0]`},
		{MethodSetDifficulty, `[0.0e5]`},
		{MethodSetDifficulty, `[-1]`},
		{MethodSetDifficulty, `[null]`},
		{MethodSuggestDifficulty, `[]`},
		{MethodSuggestTarget, `["00ff"]`},
		{MethodSuggestTarget, `[]`},
		{MethodSetExtranonce, `[]`},
		{MethodSetExtranonce, `["deadbeef"]`},
		{MethodSetExtranonce, `["deadbee",4]`},
		{MethodSetExtranonce, `["deadbeef",-1]`},
		{MethodSetExtranonce, `["deadbeef",33]`},
		{MethodSetExtranonce, `["deadbeef",4.5]`},
		{MethodReconnect, `["h","port",0]`},
		{MethodReconnect, `["h",70000,0]`},
		{MethodReconnect, `["h",3333,-1]`},
		{MethodReconnect, `["h",true]`},
		{MethodShowMessage, `[]`},
		{MethodShowMessage, `[1]`},
		{MethodMultiVersion, `[]`},
		{MethodMultiVersion, `["1"]`},
		{MethodGetTransactions, `[]`},
		{MethodPing, `{}`},
		{MethodSubmit, `[]`},
		{MethodSubmit, `["w","j","00","00000000"]`},
		{MethodSubmit, `[1,"j","00","00000000","00000000"]`},
		{MethodSubmit, `["w",null,"00","00000000","00000000"]`},
		{MethodSubmit, `["w","j","0","00000000","00000000"]`},
		{MethodSubmit, `["w","j","zz","00000000","00000000"]`},
		{MethodSubmit, `["w","j",0,"00000000","00000000"]`},
		{MethodSubmit, `["w","j","00","000000000","00000000"]`},
		{MethodSubmit, `["w","j","00","","00000000"]`},
		{MethodSubmit, `["w","j","00","00000000",4294967296]`},
		{MethodSubmit, `["w","j","00","00000000",1.5]`},
		{MethodSubmit, `["w","j","00","00000000","00000000",0]`},
		{MethodSubmit, `["w","j","` + hex.EncodeToString(make([]byte, 33)) + `","00000000","00000000"]`},
		{MethodSubmit, `["w","j","00","00000000","00000000"`},
		{MethodSubmit, `["w","j","00","00000000","00000000"] x`},
		{MethodSubmit, `["w" "j"]`},
		{MethodNotify, `[]`},
		{MethodNotify, `["1","00","","",[],"20000000","1d00ffff","5d10bc0a",true]`},
		{MethodNotify, `["1","` + hex.EncodeToString(make([]byte, 32)) + `","","",{},"20000000","1d00ffff","5d10bc0a",true]`},
		{MethodNotify, `["1","` + hex.EncodeToString(make([]byte, 32)) + `","","",["00"],"20000000","1d00ffff","5d10bc0a",true]`},
		{MethodNotify, `["1","` + hex.EncodeToString(make([]byte, 32)) + `","","",[],"2000000","1d00ffff","5d10bc0a",true]`},
		{MethodNotify, `["1","` + hex.EncodeToString(make([]byte, 32)) + `","","",[],"20000000","1d00ffff","5d10bc0a","yes"]`},
		{MethodNotify, `["1","` + hex.EncodeToString(make([]byte, 32)) + `","","",[],"20000000","1d00ffff","5d10bc0a"]`},
		{MethodNotify, `["1","` + hex.EncodeToString(make([]byte, 32)) + `","0","",[],"20000000","1d00ffff","5d10bc0a",true]`},
	}
	for _, tc := range cases {
		p := NewParams(tc.method)
		err := p.UnmarshalJSON([]byte(tc.params))
		var pe *ParamError
		if !errors.Is(err, ErrInvalidParams) || !errors.As(err, &pe) || pe.Error() == "" {
			t.Errorf("%s %s: err = %v, want a ParamError", tc.method, tc.params, err)
		}
	}
}

func TestNotifyVariants(t *testing.T) {
	prev := "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000"
	base := `["bf","` + prev + `","01000000","ffffffff",["0000000000000000000000000000000000000000000000000000000000000001"],"00000002","1c2ac4af","504e86b9",`
	for _, tc := range []struct {
		tail  string
		clean bool
	}{
		{`false]`, false},
		{`true]`, true},
		{`"504e86b9",true]`, true},   // 10 elements, duplicated ntime
		{`"504e86b9",false]`, false}, // 10 elements
		{`true,"extra"]`, true},      // extra trailing element
	} {
		p, err := decodeParams(t, MethodNotify, base+tc.tail)
		if err != nil {
			t.Fatalf("%s: %v", tc.tail, err)
		}
		n := p.(*Notify)
		if n.Clean != tc.clean || n.JobID != "bf" || n.Version != 2 || n.NBits != 0x1c2ac4af || n.NTime != 0x504e86b9 {
			t.Errorf("%s: %+v", tc.tail, n)
		}
		// PrevHash stays in Stratum word order, exactly the wire bytes.
		if hex.EncodeToString(n.PrevHash[:]) != prev {
			t.Errorf("prevhash %x", n.PrevHash)
		}
		if len(n.Branch) != 1 || n.Branch[0][31] != 1 || !reflect.DeepEqual(n.Coinb1, mustHex(t, "01000000")) {
			t.Errorf("branch/coinb1 %+v", n)
		}
	}
}

// TestNotifyReuse decodes a long notify then a short one into one value.
func TestNotifyReuse(t *testing.T) {
	lines := loadLines(t)
	var n Notify
	var seen int
	for _, w := range lines {
		m, err := Decode(w.line)
		if err != nil || m.Method != MethodNotify || expectFailure(w) {
			continue
		}
		if err := m.UnmarshalParams(&n); err != nil {
			t.Fatalf("%s: %v", w.name(), err)
		}
		fresh, _ := m.ParseParams()
		if !reflect.DeepEqual(fresh.(*Notify).Branch, n.Branch) && len(n.Branch) > 0 {
			t.Fatalf("%s: reused branch differs", w.name())
		}
		if string(AppendNotify(nil, &n)) != string(AppendNotify(nil, fresh.(*Notify))) {
			t.Fatalf("%s: reused notify encodes differently", w.name())
		}
		seen++
	}
	if seen < 90 {
		t.Fatalf("only %d notify lines", seen)
	}
}

func TestSubscribeResult(t *testing.T) {
	cases := []struct {
		raw  string
		want *SubscribeResult
	}{
		{`[[["mining.set_difficulty","08000002"],["mining.notify","08000002"]],"08000002",4]`, NewSubscribeResult("08000002", []byte{8, 0, 0, 2}, 4)},
		{`[[["mining.notify","1e0a00001"],["mining.set_difficulty","1e0a00002"]],"1e0a0000",8]`,
			&SubscribeResult{Subscriptions: []Subscription{{MethodNotify, "1e0a00001"}, {MethodSetDifficulty, "1e0a00002"}}, Extranonce1: []byte{0x1e, 0x0a, 0, 0}, Extranonce2Size: 8}},
		{`[[],"6c6f010000000c",4]`, &SubscribeResult{Subscriptions: []Subscription{}, Extranonce1: mustHex(t, "6c6f010000000c"), Extranonce2Size: 4}},
		{`[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"],"",4]`, &SubscribeResult{Subscriptions: []Subscription{{MethodNotify, "ae6812eb4cd7735a302a8a9dd95cf71f"}}, Extranonce2Size: 4}},
		{`[[["mining.notify",7,"x"]],"00",2,"extra"]`, &SubscribeResult{Subscriptions: []Subscription{{MethodNotify, "7"}}, Extranonce1: []byte{0}, Extranonce2Size: 2}},
	}
	for _, tc := range cases {
		var r SubscribeResult
		if err := json.Unmarshal([]byte(tc.raw), &r); err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if !reflect.DeepEqual(&r, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.raw, r, tc.want)
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back SubscribeResult
		if err := json.Unmarshal(enc, &back); err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("%s: round trip %s: %v", tc.raw, enc, err)
		}
	}
	enc, _ := json.Marshal(NewSubscribeResult("57a6f098", []byte{0x57, 0xa6, 0xf0, 0x98}, 4))
	if want := `[[["mining.set_difficulty","57a6f098"],["mining.notify","57a6f098"]],"57a6f098",4]`; string(enc) != want {
		t.Errorf("got %s want %s", enc, want)
	}
	for _, bad := range []string{
		`null`, `["01650f001f25ea",4]`, `[[["mining.notify","abc"]],"4de05269"]`, `[[["mining.notify"]],"00",4]`,
		`[[[1,"x"]],"00",4]`, `[{},"00",4]`, `[[],"0",4]`, `[[],"00",-1]`, `[[],"00",33]`, `[[],"00","4"]`, `{}`,
		`[[["mining.notify",null]],"00",4]`,
	} {
		var r SubscribeResult
		if err := r.UnmarshalJSON([]byte(bad)); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func TestConfigureResult(t *testing.T) {
	yes, no := &ExtensionResult{OK: true}, &ExtensionResult{}
	cases := []struct {
		raw  string
		want ConfigureResult
	}{
		{`{"version-rolling":true,"version-rolling.mask":"1fffe000"}`, ConfigureResult{VersionRolling: yes, VersionRollingMask: 0x1fffe000, HasVersionRollingMask: true}},
		{`{"version-rolling": true, "version-rolling.mask": "18000000", "minimum-difficulty": true}`,
			ConfigureResult{VersionRolling: yes, VersionRollingMask: 0x18000000, HasVersionRollingMask: true, MinimumDifficulty: yes}},
		{`{"version-rolling":true,"version-rolling.mask":"1fffe000","minimum-difficulty":false}`,
			ConfigureResult{VersionRolling: yes, VersionRollingMask: 0x1fffe000, HasVersionRollingMask: true, MinimumDifficulty: no}},
		{`{"version-rolling":"mask not supported","subscribe-extranonce":true,"info":false,"other":1}`,
			ConfigureResult{VersionRolling: &ExtensionResult{Error: "mask not supported"}, SubscribeExtranonce: yes, Info: no}},
		{`{}`, ConfigureResult{}},
	}
	for _, tc := range cases {
		var r ConfigureResult
		if err := json.Unmarshal([]byte(tc.raw), &r); err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if !reflect.DeepEqual(r, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.raw, r, tc.want)
		}
		enc, _ := json.Marshal(r)
		var back ConfigureResult
		if err := json.Unmarshal(enc, &back); err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("%s: round trip %s: %v", tc.raw, enc, err)
		}
	}
	enc, _ := json.Marshal(ConfigureResult{VersionRolling: yes, VersionRollingMask: 0x1fffe000, HasVersionRollingMask: true, MinimumDifficulty: no})
	if want := `{"version-rolling":true,"version-rolling.mask":"1fffe000","minimum-difficulty":false}`; string(enc) != want {
		t.Errorf("got %s want %s", enc, want)
	}
	for _, bad := range []string{`[]`, `true`, `{"version-rolling":1}`, `{"version-rolling":true,"version-rolling.mask":"xyz"}`} {
		var r ConfigureResult
		if err := r.UnmarshalJSON([]byte(bad)); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func TestConfigureHelpers(t *testing.T) {
	p, err := decodeParams(t, MethodConfigure, `[["version-rolling","subscribe-extranonce"],{}]`)
	if err != nil {
		t.Fatal(err)
	}
	c := p.(*Configure)
	if !c.Has(ExtSubscribeExtranonce) || c.Has(ExtMinimumDifficulty) || c.Mask() != 0xffffffff {
		t.Fatalf("%+v", c)
	}
}

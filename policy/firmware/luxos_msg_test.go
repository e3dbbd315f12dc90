package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// luxStatusSim is what sim/firmware's LuxOS answers to config+power.
const luxStatusSim = `{"config":[{"STATUS":[{"STATUS":"S","When":1796615296,"Code":33,"Msg":"CGMiner config","Description":"LUXminer sim"}],"CONFIG":[{"CurtailMode":"None","IsPowerSupplyOn":true,"Profile":"default","Model":"Antminer S21 (sim)"}],"id":1}],"power":[{"STATUS":[{"STATUS":"S","When":1796615296,"Code":335,"Msg":"Power","Description":"LUXminer sim"}],"POWER":[{"PSU":true,"Watts":3500}],"id":1}],"id":1}`

// luxStatusProfilesSim is its answer to config+power+profiles.
const luxStatusProfilesSim = `{"config":[{"STATUS":[{"STATUS":"S","When":1796615296,"Code":33,"Msg":"CGMiner config","Description":"LUXminer sim"}],"CONFIG":[{"CurtailMode":"Sleep","IsPowerSupplyOn":false,"Profile":"445MHz","Model":"Antminer S21 (sim)"}],"id":1}],"power":[{"STATUS":[{"STATUS":"S","When":1796615296,"Code":335,"Msg":"Power","Description":"LUXminer sim"}],"POWER":[{"PSU":false,"Watts":25}],"id":1}],"profiles":[{"STATUS":[{"STATUS":"S","When":1796615296,"Code":90,"Msg":"Profiles","Description":"LUXminer sim"}],"PROFILES":[{"Profile Name":"default","Frequency":0,"Hashrate":200,"Watts":3500,"Step":"0"},{"Profile Name":"445MHz","Frequency":0,"Hashrate":145,"Watts":2300,"Step":"0"}],"id":1}],"id":1}`

// luxStatusWide is a config+power reply with a CONFIG section as wide as a
// real miner's (field names in the shape of the LuxOS config reply, values
// illustrative), pretty-printed as some firmware builds send it.
const luxStatusWide = `{
 "config": [{
  "CONFIG": [{
   "ASC Count": 3, "ATM": true, "AutotunerEnabled": true, "ControlBoardType": "amlogic",
   "CurtailMode": "None", "Device Code": "", "Hotplug": "None", "IsAtmEnabled": true,
   "IsPowerSupplyOn": true, "IsTuning": false, "Log Interval": 5, "MACAddr": "02:00:00:00:00:01",
   "MinerID": "S21-0001", "Model": "Antminer S21", "NumBoards": 3, "NumChipsPerBoard": 108,
   "NumFans": 4, "NumPSUs": 1, "NumTempSensorsPerBoard": 4, "OS": "LuxOS", "PGA Count": 0,
   "Pool Count": 3, "Profile": "default", "RedLed": "off", "SerialNumber": "SN000000000001",
   "Strategy": "Failover", "SystemStatus": "Normal", "UTCOffset": 0
  }],
  "STATUS": [{"Code": 33, "Description": "LUXminer 2026.1.15", "Msg": "CGMiner config", "STATUS": "S", "When": 1770000000}],
  "id": 1
 }],
 "power": [{
  "POWER": [{"PSU": true, "Watts": 3512.5}],
  "STATUS": [{"Code": 335, "Description": "LUXminer 2026.1.15", "Msg": "Power", "STATUS": "S", "When": 1770000000}],
  "id": 1
 }],
 "id": 1
}`

func TestLuxOSStatusRequests(t *testing.T) {
	// What the real API is sent: one JSON object, commands joined by '+'.
	for got, want := range map[string]string{
		string(luxReqStatus):         `{"command":"config+power"}`,
		string(luxReqStatusProfiles): `{"command":"config+power+profiles"}`,
	} {
		if got != want {
			t.Errorf("request %s, want %s", got, want)
		}
	}
}

func TestDecodeLuxStatus(t *testing.T) {
	var r luxStatusReply
	if err := decodeLuxStatus([]byte(luxStatusProfilesSim), &r); err != nil {
		t.Fatal(err)
	}
	want := luxStatusReply{
		Config: []luxSection{{Status: []luxStatusLetter{{"S"}}, Config: []luxConfigState{{CurtailMode: "Sleep", Profile: "445MHz"}}}},
		Power:  []luxSection{{Status: []luxStatusLetter{{"S"}}, Power: []luxPowerWatts{{25}}}},
		Profiles: []luxSection{{Status: []luxStatusLetter{{"S"}}, Profiles: []luxProfileWatts{
			{Name: "default", Watts: 3500}, {Name: "445MHz", Watts: 2300}}}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("decoded %+v\nwant %+v", r, want)
	}
	for _, bad := range []string{
		`{"config":[]}`, // a section without its reply
		`{"config":[{"STATUS":[]}]}`,
		`{"power":[{"STATUS":[{"STATUS":"S"}]},{"STATUS":[{"STATUS":"S"}]}]}`,
	} {
		var r luxStatusReply
		if err := decodeLuxStatus([]byte(bad), &r); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// luxStatusVectors are inputs where a hand-written decoder is easily
// wrong; FuzzLuxStatusDecoder starts from them and every one is checked
// against encoding/json by TestLuxStatusDecoderMatchesJSON.
var luxStatusVectors = []string{
	luxStatusSim, luxStatusProfilesSim, luxStatusWide,
	``, ` `, `null`, ` null `, `nul`, `{}`, `[]`, `"x"`, `1`, `true`, `{} x`, `{}}`, "\ufeff{}",
	`{"config":null}`, `{"config":[null]}`, `{"config":[{}]}`, `{"config":{}}`, `{"config":[1]}`, `{"config":"x"}`,
	`{"config":[{"STATUS":null,"CONFIG":[null,{"Profile":null}]}]}`,
	`{"CONFIG":[], "Config":[{"STATUS":[{"STATUS":"S"}]}]}`, // json matches names case-insensitively
	`{"config":[{"status":[{"status":"I"}],"config":[{"curtailmode":"Sleep","PROFILE":"x"}]}]}`,
	`{"power":[{"STATUS":[{"STATUS":"S"}],"POWER":[{"watts":-0}]}]}`,
	`{"power":[{"POWER":[{"Watts":1e400}]}]}`, // out of float64 range
	`{"power":[{"POWER":[{"Watts":"3500"}]}]}`,
	`{"power":[{"POWER":[{"Watts":01}]}]}`, `{"power":[{"POWER":[{"Watts":1.}]}]}`, `{"power":[{"POWER":[{"Watts":-}]}]}`,
	`{"power":[{"POWER":[{"Watts":1.5e+3}]}]}`, `{"power":[{"POWER":[{"Watts":2E-2}]}]}`, `{"power":[{"POWER":[{"Watts":.5}]}]}`,
	`{"power":[{"POWER":[{"Watts":true}]}]}`, `{"power":[{"POWER":[{"Watts":null}]}]}`,
	`{"config":[{"CONFIG":[{"Profile":"d\u00e9faut"}]}]}`, `{"config":[{"CONFIG":[{"Profile":"\ud800"}]}]}`,
	"{\"config\":[{\"CONFIG\":[{\"Profile\":\"\xff\xfe\"}]}]}", "{\"config\":[{\"CONFIG\":[{\"Profile\":\"a\tb\"}]}]}",
	`{"config":[{"CONFIG":[{"Profile":"a\"b\\c\/d\b\f\n\r\t"}]}]}`, `{"config":[{"CONFIG":[{"Profile":"\x"}]}]}`,
	`{"config":[{"CONFIG":[{"Profile":"\u12"}]}]}`, `{"config":[{"CONFIG":[{"Profile":5}]}]}`,
	`{"\u0063onfig":[{"\u0053TATUS":[{"STATUS":"S"}]}]}`,    // escaped names
	"{\"config\":[{\"\u017fTATUS\":[{\"STATUS\":\"S\"}]}]}", // ſ folds to s, as encoding/json matches it
	`{"config":[{"\u017fTATUS":[{"STATUS":"S"}]}]}`,
	`{"config":[{"CONFIG":[{"Profile":"x"}],"Extra":{"a":[1,2,{"b":null}],"c":"d"}}],"id":1}`,
	`{"a":[1,2,],"config":[]}`, `{"a":{"b":1,}}`, `{"a" 1}`, `{"a":1 "b":2}`, `{,}`, `[1,]`, `{"a":tru}`, `{"a":nulL}`,
	`{"config":[{"STATUS":[{"STATUS":"S"}],"CONFIG":[{"CurtailMode":"None"}]}],"config":null}`, // named twice
	`{"config":[{"CONFIG":[{"Profile":"a","profile":"b"}]}]}`,                                  // named twice, folded
	`{"x":1,"x":2,"config":[]}`, // unread members may repeat
	" \t\r\n{ \"config\" : [ { \"STATUS\" : [ { \"STATUS\" : \"S\" } ] } ] } \n",
}

func TestLuxStatusDecoderMatchesJSON(t *testing.T) {
	for _, v := range luxStatusVectors {
		checkLuxStatusDecoder(t, []byte(v))
	}
}

// TestLuxStatusDecoderDepth checks encoding/json's nesting limit of 10,000
// at each level the decoder reaches: inside an unread member, and as the
// whole reply.
func TestLuxStatusDecoderDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"x":` + nest(9999) + `}`, true}, // 10,000 levels with the reply
		{`{"x":` + nest(10000) + `}`, false},
		{`{"config":[{"x":` + nest(9997) + `}]}`, true},
		{`{"config":[{"x":` + nest(9998) + `}]}`, false},
		{`{"config":[{"CONFIG":[{"x":` + nest(9995) + `}]}]}`, true},
		{`{"config":[{"CONFIG":[{"x":` + nest(9996) + `}]}]}`, false},
		{nest(10000), false}, // an array is the wrong type either way
		{nest(10001), false},
	} {
		var r luxStatusReply
		if err := parseLuxStatus([]byte(tc.in), &r); (err == nil) != tc.ok {
			t.Errorf("%d bytes: error %v, want ok %v", len(tc.in), err, tc.ok)
		}
		checkLuxStatusDecoder(t, []byte(tc.in))
	}
}

func FuzzLuxStatusDecoder(f *testing.F) {
	seedReplies(f, "luxos")
	for _, v := range luxStatusVectors {
		f.Add([]byte(v))
	}
	f.Fuzz(checkLuxStatusDecoder)
}

// checkLuxStatusDecoder holds parseLuxStatus to json.Unmarshal: the same
// value when both accept; an error from parseLuxStatus alone only for a
// member named twice, which json.Unmarshal merges.
func checkLuxStatusDecoder(t *testing.T, b []byte) {
	t.Helper()
	var got, want luxStatusReply
	errGot := parseLuxStatus(b, &got)
	errWant := json.Unmarshal(b, &want)
	in := fmt.Sprintf("%q", b)
	if len(in) > 200 {
		in = fmt.Sprintf("%s… (%d bytes)", in[:200], len(b))
	}
	switch {
	case errGot == nil && errWant == nil:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ndecoded %+v\njson    %+v", in, got, want)
		}
	case errGot == nil:
		t.Fatalf("%s: accepted, json.Unmarshal: %v", in, errWant)
	case errWant == nil:
		if !errors.Is(errGot, errLuxDuplicate) || !jsonNamesTwice(b) {
			t.Fatalf("%s: %v, json.Unmarshal accepts it", in, errGot)
		}
	}
}

// jsonNamesTwice reports whether valid JSON b has an object with two
// member names that encoding/json would match to one field.
func jsonNamesTwice(b []byte) bool {
	type frame struct {
		object, wantName bool
		names            []string
	}
	var stack []frame
	done := func() { // a value ended
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantName = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].wantName {
			if name, ok := tok.(string); ok {
				for _, seen := range stack[n-1].names {
					if strings.EqualFold(seen, name) {
						return true
					}
				}
				stack[n-1].names = append(stack[n-1].names, name)
				stack[n-1].wantName = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantName: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
}

func TestAppendReply(t *testing.T) {
	const limit = 4096
	body := bytes.Repeat([]byte("x"), limit)
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte // nil: an error
	}{
		{"limit bytes then NUL", append(bytes.Clone(body), 0, 'y'), body},
		{"limit bytes then EOF", body, body},
		{"one byte over", append(bytes.Clone(body), 'x', 0), nil},
		{"empty before NUL", []byte{0, 'x'}, []byte{}},
		{"nothing", nil, nil},
	} {
		for _, r := range []io.Reader{bytes.NewReader(tc.in), iotest.OneByteReader(bytes.NewReader(tc.in))} {
			// A used pool buffer: small and holding an old reply.
			buf := append(make([]byte, 0, 16), "old reply"...)
			got, err := appendReply(buf[:0], r, limit)
			if tc.want == nil {
				if err == nil {
					t.Errorf("%s: %d bytes accepted", tc.name, len(got))
				}
				continue
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("%s: %d bytes, %v", tc.name, len(got), err)
			}
		}
	}
}

func BenchmarkLuxStatusDecode(b *testing.B) {
	for _, in := range []struct{ name, reply string }{{"sim", luxStatusSim}, {"wide", luxStatusWide}} {
		reply := []byte(in.reply)
		b.Run(in.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r luxStatusReply
				if err := decodeLuxStatus(reply, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(in.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r LuxMultiReply
				if err := json.Unmarshal(reply, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package sv1

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeEnvelope(t *testing.T) {
	cases := []struct {
		line                  string
		id                    string // "" = absent
		method                string
		req, notif, resp, acc bool
	}{
		{`{"id":1,"method":"mining.submit","params":[]}`, "1", MethodSubmit, true, false, false, false},
		{`{"id":"subscribe","method":"mining.subscribe","params":[]}`, `"subscribe"`, MethodSubscribe, true, false, false, false},
		{`{"id":null,"method":"mining.notify","params":[]}`, "null", MethodNotify, false, true, false, false},
		{`{"method":"mining.set_difficulty","params":[1]}`, "", MethodSetDifficulty, false, true, false, false},
		{`{"id":2147483648,"result":true,"error":null}`, "2147483648", "", false, false, true, true},
		{`{"result":true,"id":3}`, "3", "", false, false, true, true},
		{`{"jsonrpc":"2.0","id":4,"result":false}`, "4", "", false, false, true, false},
		{`{"id":5,"result":true,"error":[21,"x",null]}`, "5", "", false, false, true, false},
		{`{"id":1.5,"error":null,"result":null}`, "1.5", "", false, false, true, false},
		{`{"id":42,"method":"pong","params":[]}`, "42", MethodPong, true, false, false, false},
		{`{"id":7,"method":"mining.x\u0079z","params":[]}`, "7", "mining.xyz", true, false, false, false},
		{" \t{\"id\" : 8 , \"result\" : true }  ", "8", "", false, false, true, true},
	}
	for _, tc := range cases {
		m, err := Decode([]byte(tc.line))
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if string(m.ID) != tc.id || m.Method != tc.method {
			t.Errorf("%s: id=%q method=%q", tc.line, m.ID, m.Method)
		}
		if m.IsRequest() != tc.req || m.IsNotification() != tc.notif || m.IsResponse() != tc.resp || m.Accepted() != tc.acc {
			t.Errorf("%s: req=%v notif=%v resp=%v accepted=%v", tc.line, m.IsRequest(), m.IsNotification(), m.IsResponse(), m.Accepted())
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		line string
		want error
	}{
		{``, ErrMalformedJSON},
		{`{"id":1,"method":"mining.submit"`, ErrMalformedJSON},
		{`{"id":1} trailing`, ErrMalformedJSON},
		{`not json`, ErrMalformedJSON},
		{"\x16\x03\x01\x02\x00", ErrMalformedJSON},
		{`[1,2,3]`, ErrInvalidMessage},
		{`"string"`, ErrInvalidMessage},
		{`null`, ErrInvalidMessage},
		{`{"id":1}`, ErrInvalidMessage},
		{`{}`, ErrInvalidMessage},
		{`{"id":{"a":1},"method":"mining.ping"}`, ErrInvalidMessage},
		{`{"id":[1],"method":"mining.ping"}`, ErrInvalidMessage},
		{`{"id":true,"method":"mining.ping"}`, ErrInvalidMessage},
		{`{"id":1,"method":5,"params":[]}`, ErrInvalidMessage},
		{`{"id":1,"method":["mining.ping"]}`, ErrInvalidMessage},
	}
	for _, tc := range cases {
		_, err := Decode([]byte(tc.line))
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: err = %v, want %v", tc.line, err, tc.want)
		}
	}
}

func TestDecodeIntoReuse(t *testing.T) {
	var m Message
	long := `{"id":"a-long-string-id","method":"mining.submit","params":["w","j","00","01","02"],"result":[1],"error":[23,"low",null],"reject-reason":"x"}`
	if err := DecodeInto(&m, []byte(long)); err != nil {
		t.Fatal(err)
	}
	if err := DecodeInto(&m, []byte(`{"id":7,"result":true}`)); err != nil {
		t.Fatal(err)
	}
	if string(m.ID) != "7" || m.Method != "" || m.Params != nil || string(m.Result) != "true" || m.Error != nil || m.RejectReason != "" {
		t.Fatalf("stale fields after reuse: %+v", m)
	}
	if !m.Accepted() {
		t.Fatal("not accepted")
	}
}

func TestErrorForms(t *testing.T) {
	cases := []struct {
		line     string
		nilErr   bool
		code     int
		msg      string
		data     string
		accepted bool
	}{
		{`{"id":1,"result":true,"error":null}`, true, 0, "", "", true},
		{`{"id":1,"result":true}`, true, 0, "", "", true},
		{`{"id":1,"result":true,"error":false}`, true, 0, "", "", true},
		{`{"id":4,"result":null,"error":[21,"Job not found",""]}`, false, 21, "Job not found", `""`, false},
		{`{"id":4,"result":null,"error":[23,"Difficulty too low"]}`, false, 23, "Difficulty too low", "", false},
		{`{"id":4,"result":null,"error":[-32601,"Method not found",{"a": 1}]}`, false, -32601, "Method not found", `{"a":1}`, false},
		{`{"id":4,"result":null,"error":[]}`, false, 20, "", "", false},
		{`{"id":4,"result":null,"error":["21","text"]}`, false, 20, "text", "", false},
		{`{"result":false,"error":"Stale","id":618}`, false, 21, "Stale", "", false},
		{`{"result":null,"error":"Invalid nonce2 length","id":618}`, false, 20, "Invalid nonce2 length", "", false},
		{`{"jsonrpc":"2.0","error":{"code":22,"message":"duplicate share","data":null},"id":42}`, false, 22, "duplicate share", "", false},
		{`{"error":{"message":"no code"},"id":42}`, false, 20, "no code", "", false},
		{`{"reject-reason":"Above target 2","result":false,"error":null,"id":8}`, false, 23, "Above target 2", "", false},
		{`{"reject-reason":"Duplicate","result":false,"id":8}`, false, 22, "Duplicate", "", false},
		{`{"reject-reason":"ignored on success","result":true,"id":8}`, true, 0, "", "", true},
		{`{"id": 33, "result": false, "error": [21, "Job not found (=stale)", null]}`, false, 21, "Job not found (=stale)", "", false},
		{`{"id":1,"result":null,"error":12}`, false, 20, "12", "", false},
	}
	for _, tc := range cases {
		m, err := Decode([]byte(tc.line))
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if m.Accepted() != tc.accepted {
			t.Errorf("%s: accepted=%v", tc.line, m.Accepted())
		}
		if tc.nilErr {
			if m.Error != nil {
				t.Errorf("%s: error %+v, want none", tc.line, m.Error)
			}
			continue
		}
		if m.Error == nil || m.Error.Code != tc.code || m.Error.Message != tc.msg || string(m.Error.Data) != tc.data {
			t.Errorf("%s: error %+v data=%s, want %d %q %s", tc.line, m.Error, m.Error.Data, tc.code, tc.msg, tc.data)
		}
	}
}

func TestStandardErrors(t *testing.T) {
	table := map[int]*Error{20: ErrOther, 21: ErrJobNotFound, 22: ErrDuplicateShare, 23: ErrLowDifficulty, 24: ErrUnauthorized, 25: ErrNotSubscribed}
	for code, e := range table {
		if e.Code != code || StandardError(code) != e {
			t.Errorf("code %d: %+v", code, e)
		}
		line := AppendErrorResponse(nil, IntID(9), e)
		want := `{"id":9,"result":null,"error":[` + itoa(code) + `,` + string(StringID(e.Message)) + `,null]}` + "\n"
		if string(line) != want {
			t.Errorf("got %s want %s", line, want)
		}
		m, err := Decode(line)
		if err != nil || !errors.Is(m.Error, e) || m.Accepted() {
			t.Errorf("%s: %v %+v", line, err, m.Error)
		}
	}
	var err error = &Error{Code: 21, Message: "Stale"}
	if !errors.Is(err, ErrJobNotFound) || errors.Is(err, ErrDuplicateShare) {
		t.Error("errors.Is by code")
	}
	if !strings.Contains(ErrLowDifficulty.Error(), "23") {
		t.Error(ErrLowDifficulty.Error())
	}
	if StandardError(-32601).Code != -32601 {
		t.Error("unknown code")
	}
	b, err := json.Marshal(ErrNotSupported)
	if err != nil || string(b) != `[20,"Not supported.",null]` {
		t.Errorf("%s %v", b, err)
	}
}

func TestClassifyReason(t *testing.T) {
	for reason, code := range map[string]int{
		"Invalid JobID": 21, "Stale": 21, "Job not found": 21, "Duplicate": 22, "duplicate share": 22,
		"Above target": 23, "Difficulty too low": 23, "Worker mismatch": 24, "Unauthorized worker": 24,
		"Not subscribed": 25, "Ntime out of range": 20, "Invalid version mask": 20, "": 20,
	} {
		if got := ClassifyReason(reason); got != code {
			t.Errorf("%q: %d, want %d", reason, got, code)
		}
	}
}

func TestResponseEncoding(t *testing.T) {
	for _, tc := range []struct {
		id   json.RawMessage
		want string
	}{
		{IntID(5), `{"id":5,"result":true,"error":null}`},
		{StringID("auth"), `{"id":"auth","result":true,"error":null}`},
		{nil, `{"id":null,"result":true,"error":null}`},
		{json.RawMessage(`"a<b>&c"`), `{"id":"a\u003cb\u003e\u0026c","result":true,"error":null}`},
		{json.RawMessage(`1.0`), `{"id":1.0,"result":true,"error":null}`},
	} {
		got := AppendBoolResponse(nil, tc.id, true)
		if string(got) != tc.want+"\n" {
			t.Errorf("got %s want %s", got, tc.want)
		}
		ref, err := AppendResponse(nil, tc.id, true, nil)
		if err != nil || string(ref) != string(got) {
			t.Errorf("json path %s %v", ref, err)
		}
	}
	got, err := AppendResponse(nil, IntID(42), PongResult, nil)
	if err != nil || string(got) != `{"id":42,"result":"pong","error":null}`+"\n" {
		t.Errorf("%s %v", got, err)
	}
	got, err = AppendRequest(nil, IntID(42), &Pong{})
	if err != nil || string(got) != `{"id":42,"method":"pong","params":[]}`+"\n" {
		t.Errorf("%s %v", got, err)
	}
	if m, _ := Decode(got); !m.IsPong() {
		t.Error("IsPong")
	}
	if _, err := AppendRequest(nil, IntID(1), nil); err == nil {
		t.Error("nil params accepted")
	}
	if _, err := AppendResponse(nil, json.RawMessage("{bad"), true, nil); err == nil {
		t.Error("invalid id accepted by the json path")
	}
}

func TestUnmarshalParamsMethodMismatch(t *testing.T) {
	m, err := Decode([]byte(`{"id":1,"method":"mining.authorize","params":["u","p"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UnmarshalParams(new(Submit)); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("err = %v", err)
	}
	var a Authorize
	if err := m.UnmarshalParams(&a); err != nil || a.Username != "u" || a.Password != "p" {
		t.Fatalf("%v %+v", err, a)
	}
	m, _ = Decode([]byte(`{"id":1,"method":"mining.hashrate","params":[]}`))
	if _, err := m.ParseParams(); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("err = %v", err)
	}
	m, _ = Decode([]byte(`{"id":1,"method":"mining.extranonce.subscribe"}`))
	if _, err := m.ParseParams(); err != nil {
		t.Fatalf("absent params: %v", err)
	}
}

package sv1

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// seedLines adds every captured line to the corpus.
func seedLines(f *testing.F) []wireLine {
	lines := loadLines(f)
	for _, w := range lines {
		f.Add(w.line)
	}
	return lines
}

// seedParams adds the params of every captured message of method.
func seedParams(f *testing.F, method string, extra ...string) {
	n := 0
	for _, w := range loadLines(f) {
		if m, err := Decode(w.line); err == nil && m.Method == method {
			f.Add([]byte(m.Params))
			n++
		}
	}
	for _, e := range extra {
		f.Add([]byte(e))
	}
	if n == 0 && len(extra) == 0 {
		f.Fatalf("no seeds for %s", method)
	}
}

// fuzzParams checks decode→encode→decode equality for one method, and that
// the decoder only accepts valid JSON and only fails with ErrInvalidParams.
func fuzzParams(f *testing.F, method string, extra ...string) {
	seedParams(f, method, extra...)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewParams(method)
		if err := p.UnmarshalJSON(data); err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %v does not wrap ErrInvalidParams", err)
			}
			return
		}
		if len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("encode %#v: %v", p, err)
		}
		q := NewParams(method)
		if err := q.UnmarshalJSON(enc); err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip via %s:\n got %#v\nwant %#v", enc, q, p)
		}
		if enc2, _ := json.Marshal(q); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding %s then %s", enc, enc2)
		}
	})
}

func FuzzSubscribe(f *testing.F) {
	fuzzParams(f, MethodSubscribe, `["a",null,"h:1",3333]`, `[null,17]`)
}
func FuzzAuthorize(f *testing.F) { fuzzParams(f, MethodAuthorize, `["u",null,1]`) }
func FuzzConfigure(f *testing.F) {
	fuzzParams(f, MethodConfigure, `[["info"],{"info.hw-id":"<&>","minimum-difficulty.value":1e-3}]`)
}
func FuzzSetVersionMask(f *testing.F)    { fuzzParams(f, MethodSetVersionMask) }
func FuzzSetDifficulty(f *testing.F)     { fuzzParams(f, MethodSetDifficulty, `[1E+2]`) }
func FuzzSuggestDifficulty(f *testing.F) { fuzzParams(f, MethodSuggestDifficulty) }
func FuzzSuggestTarget(f *testing.F) {
	fuzzParams(f, MethodSuggestTarget, `["`+strings.Repeat("0f", 32)+`"]`)
}
func FuzzNotify(f *testing.F)              { fuzzParams(f, MethodNotify) }
func FuzzSubmit(f *testing.F)              { fuzzParams(f, MethodSubmit, `["w",5,"AB",1,2,null]`) }
func FuzzExtranonceSubscribe(f *testing.F) { fuzzParams(f, MethodExtranonceSubscribe) }
func FuzzSetExtranonce(f *testing.F)       { fuzzParams(f, MethodSetExtranonce) }
func FuzzReconnect(f *testing.F)           { fuzzParams(f, MethodReconnect, `["h","3333",0]`, `[null,""]`) }
func FuzzGetVersion(f *testing.F)          { fuzzParams(f, MethodGetVersion) }
func FuzzShowMessage(f *testing.F)         { fuzzParams(f, MethodShowMessage) }
func FuzzPing(f *testing.F)                { fuzzParams(f, MethodPing) }
func FuzzPong(f *testing.F)                { fuzzParams(f, MethodPong, `[]`) }
func FuzzMultiVersion(f *testing.F)        { fuzzParams(f, MethodMultiVersion) }
func FuzzGetTransactions(f *testing.F)     { fuzzParams(f, MethodGetTransactions) }

// fuzzResult is fuzzParams for result values.
func fuzzResult[T any, P interface {
	*T
	json.Unmarshaler
}](f *testing.F, shape byte) {
	for _, w := range loadLines(f) {
		if m, err := Decode(w.line); err == nil && m.IsResponse() && kindOf(bytes.TrimSpace(m.Result)) == shape {
			f.Add([]byte(m.Result))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := P(new(T))
		if err := p.UnmarshalJSON(data); err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error %v does not wrap ErrInvalidParams", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q := P(new(T))
		if err := q.UnmarshalJSON(enc); err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip via %s: %v\n got %#v\nwant %#v", enc, err, q, p)
		}
	})
}

func FuzzSubscribeResult(f *testing.F) { fuzzResult[SubscribeResult](f, '[') }
func FuzzConfigureResult(f *testing.F) { fuzzResult[ConfigureResult](f, '{') }

func FuzzError(f *testing.F) {
	for _, w := range loadLines(f) {
		var probe struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(w.line, &probe) == nil && len(probe.Error) > 0 {
			f.Add([]byte(probe.Error))
		}
	}
	f.Add([]byte(`[21,"<x>",{"a": [1, "\u2028"]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // the envelope has validated it before parseError runs
		}
		e, err := parseError(data)
		if err != nil || e == nil {
			return
		}
		enc, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("encode %#v: %v", e, err)
		}
		back, err := parseError(enc)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip via %s: %v\n got %#v\nwant %#v", enc, err, back, e)
		}
		// The hand-written reply equals the json.Marshal path.
		fast := AppendErrorResponse(nil, IntID(1), e)
		ref, _ := AppendResponse(nil, IntID(1), nil, e)
		if !bytes.Equal(fast, ref) {
			t.Fatalf("AppendErrorResponse\n got %s\nwant %s", fast, ref)
		}
	})
}

// rawParams sends params verbatim, to re-encode any decoded message.
type rawParams struct {
	method string
	raw    json.RawMessage
}

func (r rawParams) Method() string { return r.method }
func (r rawParams) MarshalJSON() ([]byte, error) {
	if len(r.raw) == 0 {
		return []byte("[]"), nil
	}
	return r.raw, nil
}
func (r *rawParams) UnmarshalJSON(b []byte) error { r.raw = append(r.raw[:0], b...); return nil }

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		return IsNullID(a) && IsNullID(b)
	}
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// FuzzDecode checks the envelope: decoding never panics, fails only with the
// package's sentinels, and a decoded message re-encodes to an equal one.
func FuzzDecode(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Decode(line)
		var ref struct {
			ID     json.RawMessage `json:"id"`
			Method json.RawMessage `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
		}
		refErr := json.Unmarshal(line, &ref)
		if errors.Is(err, ErrMalformedJSON) && json.Valid(line) {
			t.Fatalf("valid JSON %q reported malformed: %v", line, err)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedJSON) && !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !json.Valid(line) || refErr != nil {
			t.Fatalf("accepted %q, which encoding/json rejects: %v", line, refErr)
		}
		if !bytes.Equal(ref.ID, m.ID) || !bytes.Equal(ref.Params, m.Params) || !bytes.Equal(ref.Result, m.Result) {
			t.Fatalf("members differ from encoding/json: %q", line)
		}
		var enc []byte
		if m.Method != "" {
			enc, err = AppendRequest(nil, m.ID, &rawParams{m.Method, m.Params})
		} else {
			enc, err = AppendResponse(nil, m.ID, m.Result, m.Error)
		}
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		back, err := Decode(enc[:len(enc)-1])
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		if back.Method != m.Method || !sameJSON(t, back.ID, m.ID) || back.Accepted() != m.Accepted() ||
			back.IsRequest() != m.IsRequest() || back.IsNotification() != m.IsNotification() {
			t.Fatalf("envelope changed: %q -> %q", line, enc)
		}
		if m.Method != "" && len(m.Params) > 0 && !sameJSON(t, back.Params, m.Params) {
			t.Fatalf("params changed: %q -> %q", line, enc)
		}
		if (back.Error == nil) != (m.Error == nil) ||
			(m.Error != nil && (back.Error.Code != m.Error.Code || back.Error.Message != m.Error.Message)) {
			t.Fatalf("error changed: %+v -> %+v", m.Error, back.Error)
		}
		if m.IsResponse() && m.Error == nil {
			fast := AppendBoolResponse(nil, m.ID, true)
			ref, _ := AppendResponse(nil, m.ID, true, nil)
			if !bytes.Equal(fast, ref) {
				t.Fatalf("AppendBoolResponse\n got %s\nwant %s", fast, ref)
			}
		}
	})
}

// FuzzAppendNotify proves the hand-written notify appender byte-equal to the
// json.Marshal path for arbitrary field values.
func FuzzAppendNotify(f *testing.F) {
	for _, w := range loadLines(f) {
		if m, err := Decode(w.line); err == nil && m.Method == MethodNotify {
			var n Notify
			if n.UnmarshalJSON(m.Params) == nil {
				var br []byte
				for _, b := range n.Branch {
					br = append(br, b[:]...)
				}
				f.Add(n.JobID, n.PrevHash[:], n.Coinb1, n.Coinb2, br, n.Version, n.NBits, n.NTime, n.Clean)
			}
		}
	}
	f.Add("<&>\u2028\x00\xff\"\\", []byte{1}, []byte{}, []byte{2}, []byte{3}, uint32(1), uint32(2), uint32(3), false)
	f.Fuzz(func(t *testing.T, job string, prev, c1, c2, branch []byte, v, nb, nt uint32, clean bool) {
		n := &Notify{JobID: job, Coinb1: c1, Coinb2: c2, Version: v, NBits: nb, NTime: nt, Clean: clean}
		copy(n.PrevHash[:], prev)
		for len(branch) > 0 {
			var h [32]byte
			branch = branch[copy(h[:], branch):]
			n.Branch = append(n.Branch, h)
		}
		fast := AppendNotify([]byte("prefix"), n)
		ref, err := AppendNotification([]byte("prefix"), n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, ref) {
			t.Fatalf("AppendNotify\n got %s\nwant %s", fast, ref)
		}
		if len(n.Branch) > MaxBranch {
			return // the decoder refuses it by design
		}
		m, err := Decode(fast[len("prefix") : len(fast)-1])
		if err != nil {
			t.Fatal(err)
		}
		var back Notify
		if err := m.UnmarshalParams(&back); err != nil {
			t.Fatal(err)
		}
		var wantJob string
		enc, _ := json.Marshal(job)
		_ = json.Unmarshal(enc, &wantJob)
		if back.JobID != wantJob {
			t.Fatalf("job id %q -> %q", job, back.JobID)
		}
	})
}

// FuzzAppendResponse proves the reply appenders byte-equal to the
// json.Marshal path for arbitrary ids and errors.
func FuzzAppendResponse(f *testing.F) {
	f.Add(uint8(0), int64(188958), "", 21, "Job not found (=stale)", []byte(nil), true)
	f.Add(uint8(1), int64(0), "auth", 23, "<Low> & \u2028 \x01", []byte(`{"a": "<"}`), false)
	f.Add(uint8(2), int64(0), "", -32601, "x", []byte(`""`), true)
	f.Fuzz(func(t *testing.T, kind uint8, n int64, s string, code int, msg string, data []byte, ok bool) {
		var id json.RawMessage
		switch kind % 4 {
		case 0:
			id = IntID(n)
		case 1:
			id = StringID(s)
		case 3:
			id = json.RawMessage("null")
		}
		if !json.Valid(data) {
			data = nil
		}
		e := &Error{Code: code, Message: msg, Data: data}
		fast := AppendErrorResponse(nil, id, e)
		ref, err := AppendResponse(nil, id, nil, e)
		if err != nil || !bytes.Equal(fast, ref) {
			t.Fatalf("AppendErrorResponse\n got %s\nwant %s (%v)", fast, ref, err)
		}
		fast = AppendBoolResponse(nil, id, ok)
		ref, err = AppendResponse(nil, id, ok, nil)
		if err != nil || !bytes.Equal(fast, ref) {
			t.Fatalf("AppendBoolResponse\n got %s\nwant %s (%v)", fast, ref, err)
		}
	})
}

// FuzzLineReader compares the reader with a direct split of the input.
func FuzzLineReader(f *testing.F) {
	var all bytes.Buffer
	for _, w := range loadLines(f) {
		all.Write(w.line)
		all.WriteByte('\n')
	}
	f.Add(all.Bytes(), uint16(0), uint8(0))
	f.Add([]byte("a\r\n\nbb\r\r\nccc"), uint16(2), uint8(1))
	f.Add([]byte(strings.Repeat("x", 5000)+"\nab\n"), uint16(100), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, max uint16, mode uint8) {
		limit := int(max)
		if limit == 0 {
			limit = DefaultMaxLine
		}
		var want []string
		segs := bytes.Split(in, []byte("\n"))
		for i, s := range segs {
			if i == len(segs)-1 && len(s) == 0 {
				break
			}
			if len(s) > limit {
				want = append(want, "<too long>")
				continue
			}
			s = bytes.TrimSuffix(s, []byte("\r"))
			if len(s) > 0 {
				want = append(want, string(s))
			}
		}
		var r io.Reader = bytes.NewReader(in)
		switch mode % 3 {
		case 1:
			r = iotest.OneByteReader(r)
		case 2:
			r = iotest.HalfReader(r)
		}
		lr := NewLineReader(r, int(max))
		var got []string
		for {
			line, err := lr.ReadLine()
			if errors.Is(err, ErrLineTooLong) {
				got = append(got, "<too long>")
				continue
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(line) > limit {
				t.Fatalf("line of %d bytes over cap %d", len(line), limit)
			}
			got = append(got, string(line))
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("got %q\nwant %q", got, want)
		}
		if cap(lr.buf) > limit+1 {
			t.Fatalf("buffer %d over cap %d", cap(lr.buf), limit)
		}
	})
}

// FuzzSplitArray checks the positional scanner against encoding/json.
func FuzzSplitArray(f *testing.F) {
	for _, w := range loadLines(f) {
		if m, err := Decode(w.line); err == nil && len(m.Params) > 0 {
			f.Add([]byte(m.Params))
		}
	}
	f.Add([]byte(`[1, -0.5e+3, "a\"\\\u00e9", [[]], {"k": [null, true, false]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := splitArray("fuzz", data, nil)
		var want []json.RawMessage
		stdErr := json.Unmarshal(data, &want)
		trimmed := bytes.Trim(data, " \t\r\n")
		if len(trimmed) == 0 || isNull(data) {
			if err != nil || len(got) != 0 {
				t.Fatalf("empty/null params: %v %q", err, got)
			}
			return
		}
		if err == nil && stdErr != nil {
			t.Fatalf("accepted %q rejected by encoding/json: %v", data, stdErr)
		}
		if err != nil && stdErr == nil && !tooDeep(data) {
			t.Fatalf("rejected %q accepted by encoding/json: %v", data, err)
		}
		if err == nil {
			if len(got) != len(want) {
				t.Fatalf("%d elements, encoding/json has %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("element %d: %q vs %q", i, got[i], want[i])
				}
			}
		}
	})
}

// tooDeep reports nesting beyond maxDepth, which splitArray rejects on purpose.
func tooDeep(data []byte) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > maxDepth {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

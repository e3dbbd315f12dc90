package sv1

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const vectorDir = "../../testdata/sv1"

// record is one line of a captured session or fixture file: "raw" in the
// shared vectors, "line" in real-peers captures.
type record struct {
	Meta   json.RawMessage `json:"_meta"`
	Seq    int             `json:"seq"`
	Dir    string          `json:"dir"`
	Raw    *string         `json:"raw"`
	Line   *string         `json:"line"`
	Msg    json.RawMessage `json:"msg"`
	Event  string          `json:"event"`
	Note   string          `json:"note"`
	Expect *expectation    `json:"expect"`
}

type expectation struct {
	ParseOK       *bool    `json:"parse_ok"`
	Method        string   `json:"method"`
	Difficulty    *float64 `json:"difficulty"`
	Extranonce1   string   `json:"extranonce1"`
	Extranonce2Sz *int     `json:"extranonce2_size"`
	VersionMask   string   `json:"version_mask"`
	Success       *bool    `json:"success"`
	ErrorText     string   `json:"error_text"`
	Code          *int     `json:"code"`
	JobID         string   `json:"job_id"`
	Version       *uint32  `json:"version"`
	NBits         *uint32  `json:"nbits"`
	NTime         *uint32  `json:"ntime"`
	CleanJobs     *bool    `json:"clean_jobs"`
	Message       string   `json:"message"`
	ReplyRequired *bool    `json:"reply_required"`
	EspminerReply string   `json:"espminer_reply_shape"`
	Action        string   `json:"action"`
	Note          string   `json:"note"`
}

// wireLine is one captured line with where it came from.
type wireLine struct {
	file   string
	rec    record
	line   []byte
	isJSON bool // false for the TLS probe bytes in real-peers/03
}

func (w wireLine) name() string {
	return filepath.Base(w.file) + "#" + itoa(w.rec.Seq) + ":" + truncate(string(w.line), 60)
}

func itoa(n int) string { return string(IntID(int64(n))) }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func vectorFiles(t testing.TB) []string {
	t.Helper()
	a, err := filepath.Glob(filepath.Join(vectorDir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := filepath.Glob(filepath.Join(vectorDir, "real-peers", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	files := append(a, b...)
	if len(a) < 9 || len(b) < 7 {
		t.Fatalf("expected the 9 shared and 7 real-peers JSONL files, found %d and %d", len(a), len(b))
	}
	return files
}

// loadLines returns every wire line of every captured session and fixture.
func loadLines(t testing.TB) []wireLine {
	t.Helper()
	var out []wireLine
	for _, f := range vectorFiles(t) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var r record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch {
			case r.Raw != nil:
				out = append(out, wireLine{file: f, rec: r, line: []byte(*r.Raw), isJSON: true})
			case r.Line != nil:
				out = append(out, wireLine{file: f, rec: r, line: []byte(*r.Line), isJSON: !isNull(r.Msg)})
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 250 {
		t.Fatalf("only %d lines loaded", len(out))
	}
	return out
}

// expectFailure reports fixtures whose expected outcome is a parse failure.
func expectFailure(w wireLine) bool {
	if w.rec.Expect != nil && w.rec.Expect.ParseOK != nil && !*w.rec.Expect.ParseOK {
		return true
	}
	return strings.Contains(w.rec.Note, "must be rejected")
}

// typed decodes a message's params or (for responses) its result by shape.
type typed struct {
	params  Params
	sub     *SubscribeResult
	conf    *ConfigureResult
	pErr    error
	resErr  error
	decoded *Message
}

func decodeTyped(line []byte) (typed, error) {
	m, err := Decode(line)
	if err != nil {
		return typed{}, err
	}
	t := typed{decoded: m}
	if m.Method != "" {
		t.params, t.pErr = m.ParseParams()
		return t, nil
	}
	switch kindOf(bytes.TrimSpace(m.Result)) {
	case '[':
		t.sub = new(SubscribeResult)
		t.resErr = json.Unmarshal(m.Result, t.sub)
	case '{':
		t.conf = new(ConfigureResult)
		t.resErr = json.Unmarshal(m.Result, t.conf)
	}
	return t, nil
}

func TestVectorsEveryLineDecodes(t *testing.T) {
	var requests, notifications, responses, probes int
	for _, w := range loadLines(t) {
		tp, err := decodeTyped(w.line)
		if !w.isJSON {
			if !errors.Is(err, ErrMalformedJSON) {
				t.Errorf("%s: non-JSON probe: err = %v, want ErrMalformedJSON", w.name(), err)
			}
			probes++
			continue
		}
		failed := err != nil || tp.pErr != nil || tp.resErr != nil
		if expectFailure(w) {
			if !failed {
				t.Errorf("%s: decoded, but the fixture expects a parse failure", w.name())
			}
			continue
		}
		if failed {
			t.Errorf("%s: err=%v params=%v result=%v", w.name(), err, tp.pErr, tp.resErr)
			continue
		}
		m := tp.decoded
		switch {
		case m.IsRequest():
			requests++
		case m.IsNotification():
			notifications++
		case m.IsResponse():
			responses++
		}
		checkExpect(t, w, tp)
		checkRoundTrip(t, w, tp)
	}
	t.Logf("requests=%d notifications=%d responses=%d non-JSON probes=%d", requests, notifications, responses, probes)
	if probes != 5 {
		t.Errorf("expected the 5 TLS probe lines of real-peers/03, got %d", probes)
	}
}

func checkExpect(t *testing.T, w wireLine, tp typed) {
	t.Helper()
	e := w.rec.Expect
	if e == nil {
		return
	}
	m := tp.decoded
	if e.Method != "" && m.Method != e.Method {
		t.Errorf("%s: method %q, want %q", w.name(), m.Method, e.Method)
	}
	if e.Difficulty != nil {
		sd := tp.params.(*SetDifficulty)
		if f, err := sd.Difficulty.Float64(); err != nil || f != *e.Difficulty {
			t.Errorf("%s: difficulty %s, want %v", w.name(), sd.Difficulty, *e.Difficulty)
		}
	}
	if e.Extranonce1 != "" || e.Extranonce2Sz != nil {
		var en1 []byte
		var n int
		switch {
		case tp.sub != nil:
			en1, n = tp.sub.Extranonce1, tp.sub.Extranonce2Size
		default:
			se := tp.params.(*SetExtranonce)
			en1, n = se.Extranonce1, se.Extranonce2Size
		}
		if hex.EncodeToString(en1) != e.Extranonce1 || n != *e.Extranonce2Sz {
			t.Errorf("%s: extranonce %x/%d, want %s/%d", w.name(), en1, n, e.Extranonce1, *e.Extranonce2Sz)
		}
	}
	if e.VersionMask != "" {
		var mask uint32
		if tp.conf != nil {
			if tp.conf.VersionRolling == nil || !tp.conf.VersionRolling.OK || !tp.conf.HasVersionRollingMask {
				t.Errorf("%s: version rolling not granted", w.name())
			}
			mask = tp.conf.VersionRollingMask
		} else {
			mask = tp.params.(*SetVersionMask).Mask
		}
		if hex32(mask) != e.VersionMask {
			t.Errorf("%s: mask %08x, want %s", w.name(), mask, e.VersionMask)
		}
	}
	if e.Success != nil && m.Accepted() != *e.Success {
		t.Errorf("%s: accepted=%v, want %v", w.name(), m.Accepted(), *e.Success)
	}
	if e.ErrorText != "" && (m.Error == nil || m.Error.Message != e.ErrorText) {
		t.Errorf("%s: error %+v, want text %q", w.name(), m.Error, e.ErrorText)
	}
	if e.Code != nil && (m.Error == nil || m.Error.Code != *e.Code) {
		t.Errorf("%s: error %+v, want code %d", w.name(), m.Error, *e.Code)
	}
	if n, ok := tp.params.(*Notify); ok {
		if e.JobID != "" && n.JobID != e.JobID {
			t.Errorf("%s: job id %q", w.name(), n.JobID)
		}
		for _, c := range []struct {
			got  uint32
			want *uint32
		}{{n.Version, e.Version}, {n.NBits, e.NBits}, {n.NTime, e.NTime}} {
			if c.want != nil && c.got != *c.want {
				t.Errorf("%s: got %d, want %d", w.name(), c.got, *c.want)
			}
		}
		if e.CleanJobs != nil && n.Clean != *e.CleanJobs {
			t.Errorf("%s: clean %v", w.name(), n.Clean)
		}
	}
	if e.Message != "" && tp.params.(*ShowMessage).Text != e.Message {
		t.Errorf("%s: message %q", w.name(), tp.params.(*ShowMessage).Text)
	}
	if e.ReplyRequired != nil && m.IsRequest() != *e.ReplyRequired {
		t.Errorf("%s: IsRequest=%v", w.name(), m.IsRequest())
	}
}

// checkRoundTrip re-encodes the typed value through the json.Marshal path
// and decodes it again; both must be equal.
func checkRoundTrip(t *testing.T, w wireLine, tp typed) {
	t.Helper()
	m := tp.decoded
	var line []byte
	var err error
	switch {
	case tp.params != nil:
		line, err = AppendRequest(nil, m.ID, tp.params)
	case tp.sub != nil:
		line, err = AppendResponse(nil, m.ID, tp.sub, m.Error)
	case tp.conf != nil:
		line, err = AppendResponse(nil, m.ID, tp.conf, m.Error)
	default:
		line, err = AppendResponse(nil, m.ID, m.Result, m.Error)
	}
	if err != nil {
		t.Errorf("%s: encode: %v", w.name(), err)
		return
	}
	if line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
		t.Errorf("%s: encoded line must end in exactly one LF: %q", w.name(), line)
	}
	back, err := decodeTyped(line[:len(line)-1])
	if err != nil || back.pErr != nil || back.resErr != nil {
		t.Errorf("%s: re-decode %q: %v %v %v", w.name(), line, err, back.pErr, back.resErr)
		return
	}
	if !bytes.Equal(back.decoded.ID, m.ID) && !(IsNullID(m.ID) && IsNullID(back.decoded.ID)) {
		t.Errorf("%s: id %s echoed as %s", w.name(), m.ID, back.decoded.ID)
	}
	if back.decoded.Method != m.Method {
		t.Errorf("%s: method %q -> %q", w.name(), m.Method, back.decoded.Method)
	}
	if !reflect.DeepEqual(back.params, tp.params) || !reflect.DeepEqual(back.sub, tp.sub) ||
		!reflect.DeepEqual(back.conf, tp.conf) {
		t.Errorf("%s: round trip differs:\n got %#v %#v %#v\nwant %#v %#v %#v", w.name(),
			back.params, back.sub, back.conf, tp.params, tp.sub, tp.conf)
	}
	if (m.Error == nil) != (back.decoded.Error == nil) ||
		(m.Error != nil && (m.Error.Code != back.decoded.Error.Code || m.Error.Message != back.decoded.Error.Message)) {
		t.Errorf("%s: error %+v -> %+v", w.name(), m.Error, back.decoded.Error)
	}
	if m.Accepted() != back.decoded.Accepted() {
		t.Errorf("%s: accepted changed", w.name())
	}
	if n, ok := tp.params.(*Notify); ok {
		fast := AppendNotify(nil, n)
		if !bytes.Equal(fast, line) {
			t.Errorf("%s: AppendNotify differs from json.Marshal path:\n%s\n%s", w.name(), fast, line)
		}
	}
}

// TestVectorsCanonicalLinesByteExact checks that hashgate's encoders write
// exactly the bytes real servers wrote, wherever those servers use the same
// member order: public-pool's notify and set_difficulty, Braiins' and
// btcpool's error triples, btcpool's subscribe result.
func TestVectorsCanonicalLinesByteExact(t *testing.T) {
	var exact int
	for _, w := range loadLines(t) {
		if !w.isJSON || expectFailure(w) {
			continue
		}
		s := string(w.line)
		tp, err := decodeTyped(w.line)
		if err != nil {
			t.Fatalf("%s: %v", w.name(), err)
		}
		m := tp.decoded
		var got []byte
		switch {
		case strings.HasPrefix(s, `{"id":null,"method":"mining.notify","params":[`):
			if elems, _ := splitArray("", m.Params, nil); len(elems) != 9 {
				continue // the 10-element variant is normalised to 9
			}
			got = AppendNotify(nil, tp.params.(*Notify))
		case strings.HasPrefix(s, `{"id":null,"method":"mining.set_difficulty","params":[`):
			got, err = AppendNotification(nil, tp.params)
		case strings.HasPrefix(s, `{"id":`) && strings.Contains(s, `,"result":true,"error":null}`):
			got = AppendBoolResponse(nil, m.ID, true)
		case strings.HasPrefix(s, `{"id":`) && strings.Contains(s, `,"result":null,"error":[`) && !strings.Contains(s, `""]`):
			got = AppendErrorResponse(nil, m.ID, StandardError(m.Error.Code))
		case strings.HasPrefix(s, `{"id":`) && strings.Contains(s, `,"result":[[[`) && strings.HasSuffix(s, `,"error":null}`):
			got, err = AppendResponse(nil, m.ID, tp.sub, nil)
		default:
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != s+"\n" {
			t.Errorf("%s: re-encoded\n got %s\nwant %s", w.name(), got, s)
			continue
		}
		exact++
	}
	t.Logf("%d captured lines reproduced byte for byte", exact)
	if exact < 20 {
		t.Errorf("only %d lines reproduced byte for byte", exact)
	}
}

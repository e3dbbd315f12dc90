package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/work"
)

// duplicateKey returns the first key that appears twice in one JSON object of line (zerolog
// writes a key once for the child logger's context and again for the event's own field; a
// decoder into a map would keep only one of them).
func duplicateKey(line []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expect bool // the next token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.expect {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return k, nil
				}
				top.keys[k] = true
				top.expect = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object the next token is a key again.
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].expect = true
		}
	}
}

// wantEachKeyOnce fails on a log line that is not JSON or carries a key twice.
func wantEachKeyOnce(t *testing.T, logs *syncBuffer) {
	t.Helper()
	logs.mu.Lock()
	text := logs.b.String()
	logs.mu.Unlock()
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if l == "" {
			continue
		}
		k, err := duplicateKey([]byte(l))
		if err != nil {
			t.Fatalf("log line is not JSON (%v): %.300s", err, l)
		}
		if k != "" {
			t.Fatalf("key %q twice in: %.300s", k, l)
		}
	}
}

func TestDuplicateKeyDetector(t *testing.T) {
	for line, want := range map[string]string{
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`: "",
		`{"worker":"x","sub":"p","worker":"x"}`:     "worker",
		`{"a":{"b":1,"b":2}}`:                       "b",
		`{"a":[1,{"c":1,"d":[{}],"c":0}]}`:          "c",
		`{"message":"component","component":"x"}`:   "",
	} {
		got, err := duplicateKey([]byte(line))
		if err != nil || got != want {
			t.Errorf("%s: got %q %v, want %q", line, got, err, want)
		}
	}
}

// TestLogLinesHaveEachKeyOnce: every log line of the connect, authorize, submit, pause,
// resume and disconnect of a V1 miner and of SV2 devices, at debug level, carries each key
// once.
func TestLogLinesHaveEachKeyOnce(t *testing.T) {
	sp, paddr := startPool(t, nil)
	k := newV2Keys(t)
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	px, addr := startProxy(t, testConfig(paddr), Options{Logger: &log})
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	const worker = "rack7.m00"
	m := dialShareMiner(t, addr, worker)
	poolT := work.MustTarget(1e-5)
	if r := m.submit(m.find(func(h *[32]byte) bool { return poolT.Met(h) })); !r.Accepted() {
		t.Fatalf("share: %v", r.Error)
	}
	devices := startMiners2(t, a.String(), k.authority.PublicKey(), 2, "rack7", nil)
	eventually(t, "the devices mining", func() bool { return allAccepted2(devices) })
	px.Pause(worker)
	px.Pause("rack7.v00")
	wantPaused(t, m.submit(m.find(func(h *[32]byte) bool { return poolT.Met(h) })))
	eventually(t, "the paused device told so", func() bool { return devices[0].Rejects()[v2ErrPaused] > 0 })
	px.Resume(worker)
	px.Resume("rack7.v00")
	m.c.Close()
	eventually(t, "the V1 miner gone", func() bool { return len(px.Workers()) == 2 })
	eventually(t, "the pool's verdicts", func() bool { return sp.Accepted() > 2 })
	for _, want := range []string{"miner authorized", "miner opened a channel", "paused miner still hashing", "miner disconnected"} {
		if logs.count(want) == 0 {
			t.Fatalf("no %q line to check", want)
		}
	}
	wantEachKeyOnce(t, &logs)
}

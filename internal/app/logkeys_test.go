package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/sim/miner"
)

// lockedBuffer is a log sink every goroutine of the app may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// repeatedKey returns the first key that appears twice in one JSON object of line, read as a
// token stream (a map would keep one of the two without a word).
func repeatedKey(line []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	type level struct {
		keys  map[string]bool // nil: an array
		atKey bool
	}
	var stack []*level
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].atKey {
			if k, ok := tok.(string); ok { // else the object's closing brace
				if stack[n-1].keys[k] {
					return k, nil
				}
				stack[n-1].keys[k], stack[n-1].atKey = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{keys: map[string]bool{}, atKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].atKey = true
		}
	}
}

// TestLogLinesCarryEachKeyOnce runs the whole process as `hashgate run` wires it (store,
// proxy, power controller with a policy and a meter, console), at debug level, through a
// miner's connect, authorize, shares, an operator pause and resume and its disconnect, and
// fails on any log line that carries a key twice (sub, component, worker, ...).
func TestLogLinesCarryEachKeyOnce(t *testing.T) {
	_, paddr := startTestPool(t)
	f := testFile(t, proxy.ListenerConfig{Protocol: "sv1", Address: "127.0.0.1:0"}, paddr)
	p := policy.DefaultConfig()
	p.ImportLimitKW, p.MarginKW = 1000, 10
	p.Interval = policy.Duration(100 * time.Millisecond)
	simSite(&f, p)
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	a, err := Start(context.Background(), &f, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mined := miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: "rack1.a", HashRate: 50000})
	stray := miner.New(miner.Config{Addr: a.Addrs[0].String(), Username: "lab.b", HashRate: 50000}) // matches no group
	done := make(chan struct{}, 2)
	go func() { mined.Run(ctx); done <- struct{}{} }()
	go func() { stray.Run(ctx); done <- struct{}{} }()
	waitFor(t, "shares accepted", func() bool { return mined.Stats.Accepted.Load() > 0 && stray.Stats.Accepted.Load() > 0 })
	waitFor(t, "the policy to know the miner", func() bool { return len(a.Power.Runner().Snapshot().Miners) == 1 })
	if err := a.Power.PauseWorker(ctx, "user:ops", "lab.b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the paused miner told so", func() bool { return stray.Rejects()[26] > 0 })
	if err := a.Power.ResumeWorker(ctx, "user:ops", "lab.b"); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	<-done
	waitFor(t, "both miners gone", func() bool { return len(a.Proxy.Workers()) == 0 })
	a.Close()

	text := logs.String()
	for _, want := range []string{`"sub":"proxy"`, `"component":"power"`, `"component":"policy"`, `"worker":"rack1.a"`,
		"miner authorized", "paused miner still hashing", "miner disconnected"} {
		if !strings.Contains(text, want) {
			t.Fatalf("no log line with %s to check", want)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		k, err := repeatedKey([]byte(l))
		if err != nil {
			t.Fatalf("log line is not JSON (%v): %.300s", err, l)
		}
		if k != "" {
			t.Fatalf("key %q twice in: %.300s", k, l)
		}
	}
}

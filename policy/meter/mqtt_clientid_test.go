package meter_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/internal/testpeer"
	"github.com/hashgate/hashgate/policy/meter"
	simmeter "github.com/hashgate/hashgate/sim/meter"
)

// syncLog is a log sink shared by a source's goroutines and the test.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the decoded log lines whose message contains msg.
func (l *syncLog) records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec["message"].(string), msg) {
			out = append(out, rec)
		}
	}
	return out
}

// loggedMQTTMeter is mqttMeter with its log kept.
func loggedMQTTMeter(t *testing.T, broker, topic, clientID string) (meter.Source, *syncLog) {
	t.Helper()
	logs := &syncLog{}
	cfg := meter.Config{Name: "mq", Role: meter.RoleAILoad, Source: meter.KindMQTT, Broker: broker, Topic: topic,
		ClientID: clientID, Interval: meter.Duration(meter.MinInterval)}
	src, err := meter.New(cfg, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	return src, logs
}

// TestMQTTDefaultClientIDsCoexist: two hashgate instances with the same meter config on one
// broker. A shared default client id made the broker close one whenever the other connected;
// each now has its own and both keep receiving, without a single reconnect.
func TestMQTTDefaultClientIDsCoexist(t *testing.T) {
	broker := testpeer.StartMosquitto(t)
	p := publisher(t, broker, "pub-coexist")
	a, alog := loggedMQTTMeter(t, broker, "site/hall", "")
	b, blog := loggedMQTTMeter(t, broker, "site/hall", "")
	outA, outB := run(t, a), run(t, b)

	// Both subscribed: each has seen a reading.
	publishUntil(t, p, "site/hall", simmeter.ShapeNumber, 1000, outA, good(1))
	publishUntil(t, p, "site/hall", simmeter.ShapeNumber, 1000, outB, good(1))

	// Then both keep receiving, every reading good. A broker that closed either would show
	// as an unavailable reading and a reconnect.
	const rounds = 30
	for i := range rounds {
		w := float64(2000 + i)
		if err := p.Publish("site/hall", simmeter.ShapeNumber, w); err != nil {
			t.Fatal(err)
		}
		for name, out := range map[string]<-chan meter.Reading{"a": outA, "b": outB} {
			r := waitFor(t, out, name+" reading", func(meter.Reading) bool { return true })
			for !r.OK() || math.Abs(r.Value-w/1000) > 1e-9 {
				if !r.OK() {
					t.Fatalf("meter %s: %+v while both run with the default client id", name, r)
				}
				r = waitFor(t, out, name+" reading", func(meter.Reading) bool { return true }) // a repeat of an earlier value
			}
		}
	}
	for name, src := range map[string]meter.Source{"a": a, "b": b} {
		if st := src.Stats(); st.Reconnects != 0 || st.Unavailable != 0 || st.Good < rounds {
			t.Fatalf("meter %s: %+v", name, st)
		}
	}

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^hashgate-` + regexp.QuoteMeta(host) + `-mq-[0-9a-f]{6}$`)
	var ids []string
	for _, l := range []*syncLog{alog, blog} {
		recs := l.records("mqtt connected")
		if len(recs) != 1 {
			t.Fatalf("%d connect lines, want 1", len(recs))
		}
		id, _ := recs[0]["client_id"].(string)
		if !want.MatchString(id) {
			t.Fatalf("client id %q, want hashgate-<hostname>-<meter>-<6 hex>", id)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Fatalf("both meters connected as %q", ids[0])
	}
}

// TestMQTTDuplicateClientIDWarns: two meters configured with one client_id take turns being
// closed by the broker. That is logged as such, once per run of short connections, instead
// of only as connection losses.
func TestMQTTDuplicateClientIDWarns(t *testing.T) {
	broker := testpeer.StartMosquitto(t)
	a, alog := loggedMQTTMeter(t, broker, "site/hall", "site-meter")
	b, blog := loggedMQTTMeter(t, broker, "site/hall", "site-meter")
	run(t, a)
	run(t, b)
	const warning = "another client is probably using this client id"
	deadline := time.Now().Add(2 * time.Minute) // a hang guard: paho backs off up to 5 s between tries
	for len(alog.records(warning))+len(blog.records(warning)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no duplicate-id warning; reconnects: a %d, b %d", a.Stats().Reconnects, b.Stats().Reconnects)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, l := range []*syncLog{alog, blog} {
		for _, rec := range l.records(warning) {
			if rec["level"] != "warn" || rec["client_id"] != "site-meter" {
				t.Fatalf("warning %v", rec)
			}
		}
	}
}

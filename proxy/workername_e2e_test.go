package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// poolTap wraps the simulated pool's listener: it counts the connections the pool accepted and
// keeps every byte the pool read, to show what reached it.
type poolTap struct {
	net.Listener
	accepts atomic.Int32
	mu      sync.Mutex
	read    bytes.Buffer
}

func (l *poolTap) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepts.Add(1)
	return &tapConn{Conn: c, l: l}, nil
}

type tapConn struct {
	net.Conn
	l *poolTap
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.l.mu.Lock()
		c.l.read.Write(b[:n])
		c.l.mu.Unlock()
	}
	return n, err
}

// authorized returns the usernames of every mining.authorize the pool read, and the longest
// line it read.
func (l *poolTap) authorized(t *testing.T) (names []string, longest int) {
	t.Helper()
	l.mu.Lock()
	data := append([]byte(nil), l.read.Bytes()...)
	l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		longest = max(longest, len(sc.Bytes()))
		m, err := sv1.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("the pool read a line that does not decode: %.200q", sc.Bytes())
		}
		if m.Method == sv1.MethodAuthorize {
			var a sv1.Authorize
			if err := m.UnmarshalParams(&a); err != nil {
				t.Fatal(err)
			}
			names = append(names, a.Username)
		}
	}
	return names, longest
}

// startTappedPool runs the simulated V1 pool (difficulty 1e-5) behind a poolTap.
func startTappedPool(t *testing.T) (*simpool.Pool, *poolTap, string) {
	t.Helper()
	cfg := simpool.DefaultConfig()
	cfg.Difficulty, cfg.JobInterval, cfg.BlockInterval = 1e-5, 0, 0
	sp, err := simpool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tap := &poolTap{Listener: l}
	sp.Serve(tap)
	return sp, tap, l.Addr().String()
}

// wantOnlyAuthorized fails unless the pool read authorizes for exactly the allowed names (and
// no line a pool's line cap would refuse), on one connection.
func wantOnlyAuthorized(t *testing.T, tap *poolTap, allowed ...string) {
	t.Helper()
	ok := map[string]bool{"acct": true}
	for _, a := range allowed {
		ok["acct."+a] = true
	}
	names, longest := tap.authorized(t)
	for _, n := range names {
		if !ok[n] {
			t.Fatalf("the pool was asked to authorize %.80q", n)
		}
	}
	if longest > 1024 {
		t.Fatalf("the pool read a %d-byte line", longest)
	}
	if n := tap.accepts.Load(); n != 1 {
		t.Fatalf("the pool accepted %d connections, want 1: the upstream session was reset", n)
	}
}

// hostileNames are worker names no pool, log line or console should see, by what is wrong.
var hostileNames = map[string]string{
	"65,480 bytes":       strings.Repeat("a", 65480),
	"129 bytes":          strings.Repeat("b", 129),
	"newline":            "rack1.m\nx",
	"NUL":                "rack1.\x00m",
	"UTF-8":              "rack1.\u77ff\u673a",
	"control characters": "rack1.\x07\x1b[2J",
	"space":              "rack1 m01",
	"tab":                "rack1.\tm",
	"empty":              "",
	"quotes":             `rack1."m"`,
}

// TestHostileWorkerNamesRefusedV1: each hostile name gets mining.authorize result false with
// [24,"invalid worker name: ...",null], its submits stay unauthorized, one log line says so
// with the name cut and quoted, nothing of it reaches the pool (no authorize, no reset of the
// upstream session) and the honest miners keep mining on the same connections.
func TestHostileWorkerNamesRefusedV1(t *testing.T) {
	sp, tap, paddr := startTappedPool(t)
	var logs syncBuffer
	log := zerolog.New(&logs)
	px, addr := startProxy(t, testConfig(paddr), Options{Logger: &log})
	honest := startMiners(t, addr, 2, "rack1", nil)
	eventually(t, "the honest miners mining", func() bool {
		return sp.AcceptedBy("acct.rack1.m00") > 0 && sp.AcceptedBy("acct.rack1.m01") > 0
	})

	for what, name := range hostileNames {
		r := dialRaw(t, addr)
		nameJSON, err := json.Marshal(name)
		if err != nil {
			t.Fatal(err)
		}
		r.send(`{"id":1,"method":"mining.subscribe","params":["raw/1.0"]}`)
		r.send(`{"id":2,"method":"mining.authorize","params":[` + string(nameJSON) + `,"x"]}`)
		a := r.reply("2")
		if string(a.Result) != "false" || a.Error == nil || a.Error.Code != sv1.CodeUnauthorized ||
			!strings.HasPrefix(a.Error.Message, "invalid worker name: ") || len(a.Error.Message) > 200 {
			t.Fatalf("%s: authorize answered %s %+v", what, a.Result, a.Error)
		}
		// Retrying on the same connection is answered the same and not logged again.
		r.send(`{"id":3,"method":"mining.authorize","params":[` + string(nameJSON) + `,"x"]}`)
		if a := r.reply("3"); a.Error == nil || a.Error.Code != sv1.CodeUnauthorized {
			t.Fatalf("%s: second authorize answered %s %+v", what, a.Result, a.Error)
		}
		r.send(`{"id":4,"method":"mining.submit","params":["w","1","00000000","5e000000","00000000"]}`)
		wantCode(t, r.reply("4"), codeUnauthorized)
	}
	// A raw byte that is not UTF-8 at all.
	r := dialRaw(t, addr)
	r.send(`{"id":2,"method":"mining.authorize","params":["rack1.` + "\xff" + `m","x"]}`)
	if a := r.reply("2"); a.Error == nil || a.Error.Code != sv1.CodeUnauthorized {
		t.Fatalf("non-UTF-8 name: authorize answered %s %+v", a.Result, a.Error)
	}

	for _, m := range honest {
		stillMiningV1(t, m)
	}
	wantOnlyAuthorized(t, tap, "rack1.m00", "rack1.m01")
	for _, w := range px.Workers() {
		if w.Worker != "" && !strings.HasPrefix(w.Worker, "rack1.m0") {
			t.Fatalf("refused name listed as a worker: %.80q", w.Worker)
		}
	}
	logs.mu.Lock()
	lines := strings.Split(strings.TrimSpace(logs.b.String()), "\n")
	logs.mu.Unlock()
	refused := 0
	for _, l := range lines {
		if len(l) > 1024 {
			t.Fatalf("a %d-byte log line: %.200s", len(l), l)
		}
		if strings.Contains(l, "worker name refused") {
			refused++
		}
	}
	if refused != len(hostileNames)+1 {
		t.Fatalf("%d refusals logged for %d refused connections", refused, len(hostileNames)+1)
	}
	wantEachKeyOnce(t, &logs)
}

// TestSubmitWorkerFieldIsNotUsed: the worker field of mining.submit is never used: a share
// with a hostile one is judged as usual and goes upstream under the authorized name, and the
// field reaches neither the pool nor the log.
func TestSubmitWorkerFieldIsNotUsed(t *testing.T) {
	const worker = "rack2.ok"
	sp, tap, paddr := startTappedPool(t)
	var logs syncBuffer
	log := zerolog.New(&logs)
	_, addr := startProxy(t, testConfig(paddr), Options{Logger: &log})
	m := dialShareMiner(t, addr, worker)
	poolT := work.MustTarget(1e-5)
	for i, field := range []string{strings.Repeat("z", 60000), "evil\nname", "\x00", "other.worker"} {
		s := m.find(func(h *[32]byte) bool { return poolT.Met(h) })
		s.Worker = field
		if r := m.submit(s); !r.Accepted() {
			t.Fatalf("share %d with worker field %.20q: %v", i, field, r.Error)
		}
		eventually(t, "the pool to accept it under the authorized name", func() bool { return sp.AcceptedBy("acct."+worker) == uint64(i+1) })
	}
	wantOnlyAuthorized(t, tap, worker)
	if logs.count("zzzz") != 0 || logs.count("evil") != 0 || logs.count("other.worker") != 0 {
		t.Fatal("a submit's worker field reached the log")
	}
}

// TestHostileUserIdentityRefusedV2: an SV2 channel opened with a hostile user_identity gets
// OpenMiningChannel.Error "invalid-user-identity"; the connection stays usable (a channel with
// a good name opens on it), nothing reaches the pool and the honest device keeps mining.
func TestHostileUserIdentityRefusedV2(t *testing.T) {
	_, tap, paddr := startTappedPool(t)
	k := newV2Keys(t)
	var logs syncBuffer
	log := zerolog.New(&logs)
	px, _ := startProxy(t, testConfig(paddr), Options{Logger: &log})
	a, err := px.ListenV2("127.0.0.1:0", k.static, k.cert)
	if err != nil {
		t.Fatal(err)
	}
	addr := a.String()
	honest := startMiners2(t, addr, k.authority.PublicKey(), 1, "honest", nil)[0]
	eventually(t, "the honest device mining", func() bool { return honest.Stats.Accepted.Load() > 0 })

	r := dialRawV2(t, addr, k.authority.PublicKey())
	r.setup(0)
	req := uint32(0)
	for what, name := range hostileNames {
		if len(name) > sv2.MaxStr0255 {
			name = name[:sv2.MaxStr0255] // the longest a STR0_255 carries
		}
		for _, standard := range []bool{true, false} {
			req++
			if standard {
				r.send(&sv2.OpenStandardMiningChannel{RequestID: req, UserIdentity: name, MaxTarget: allOnes()})
			} else {
				r.send(&sv2.OpenExtendedMiningChannel{RequestID: req, UserIdentity: name, MaxTarget: allOnes(), MinExtranonceSize: 2})
			}
			e := expect[*sv2.OpenMiningChannelError](r)
			if e.RequestID != req || e.ErrorCode != "invalid-user-identity" {
				t.Fatalf("%s (standard %v): %+v", what, standard, e)
			}
		}
	}
	req++
	r.send(&sv2.OpenStandardMiningChannel{RequestID: req, UserIdentity: "rack4.good", MaxTarget: allOnes()})
	if ok := expect[*sv2.OpenStandardMiningChannelSuccess](r); ok.RequestID != req {
		t.Fatalf("good channel after refused ones: %+v", ok)
	}
	stillMining(t, honest)
	eventually(t, "the good channel's name at the pool", func() bool {
		names, _ := tap.authorized(t)
		for _, n := range names {
			if n == "acct.rack4.good" {
				return true
			}
		}
		return false
	})
	wantOnlyAuthorized(t, tap, "honest.v00", "rack4.good")
	if n := logs.count("user_identity refused"); n != 1 {
		t.Fatalf("logged %d refusals on one connection, want 1", n)
	}
	wantEachKeyOnce(t, &logs)
}

package pool_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
)

// client is a hand-driven Stratum V1 client that reads the pool's lines as sent.
type client struct {
	t   *testing.T
	c   net.Conn
	br  *bufio.Reader
	job sv1.Notify
	n2  int
}

func start(t *testing.T, mut func(*pool.Config)) (*pool.Pool, *client) {
	t.Helper()
	cfg := pool.DefaultConfig()
	cfg.JobInterval, cfg.BlockInterval = 0, 0
	if mut != nil {
		mut(&cfg)
	}
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	addr, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	cl.send(`{"id":1,"method":"mining.subscribe","params":["t/1"]}`)
	var sr sv1.SubscribeResult
	if err := json.Unmarshal(decode(t, cl.line()).Result, &sr); err != nil {
		t.Fatal(err)
	}
	cl.n2 = sr.Extranonce2Size
	cl.line() // set_difficulty
	n := decode(t, cl.line())
	if err := n.UnmarshalParams(&cl.job); err != nil {
		t.Fatal(err)
	}
	return p, cl
}

func decode(t *testing.T, line string) *sv1.Message {
	t.Helper()
	m, err := sv1.Decode([]byte(strings.TrimSuffix(line, "\n")))
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return m
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

// line is the pool's next line, byte for byte.
func (c *client) line() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

// submit sends a share for the current job under worker; at difficulty 1 it is, but for a
// chance of 2^-32, above target.
func (c *client) submit(id, worker string) {
	c.t.Helper()
	en2 := strings.Repeat("00", c.n2)
	c.send(`{"id":` + id + `,"method":"mining.submit","params":["` + worker + `","` + c.job.JobID + `","` + en2 + `","` +
		hex.EncodeToString([]byte{byte(c.job.NTime >> 24), byte(c.job.NTime >> 16), byte(c.job.NTime >> 8), byte(c.job.NTime)}) + `","00000000"]}`)
}

// TestCkpoolAuthorization: like ckpool 0.9.9, the first authorize binds the connection's
// worker and later ones get no reply at all; shares under another name get ckpool's
// "Worker mismatch" as a bare string error, and a share under difficulty gets its
// reject-reason form, member order as jansson writes them.
func TestCkpoolAuthorization(t *testing.T) {
	_, c := start(t, func(cfg *pool.Config) { cfg.Auth = pool.AuthFirstOnly })
	c.send(`{"id":2,"method":"mining.authorize","params":["acct","x"]}`)
	if got, want := c.line(), `{"result":true,"error":null,"id":2}`+"\n"; got != want {
		t.Fatalf("first authorize: got %q want %q", got, want)
	}
	c.send(`{"id":3,"method":"mining.authorize","params":["acct.rig1","x"]}`)
	// The next line the pool sends answers id 4: id 3 was ignored.
	c.send(`{"id":4,"method":"mining.extranonce.subscribe","params":[]}`)
	if got := decode(t, c.line()); string(got.ID) != "4" {
		t.Fatalf("the second authorize was answered: %s", got.ID)
	}
	c.submit("5", "acct.rig1")
	if got, want := c.line(), `{"result":false,"error":"Worker mismatch","id":5}`+"\n"; got != want {
		t.Fatalf("submit under another name: got %q want %q", got, want)
	}
	c.submit("6", "acct")
	if got, want := c.line(), `{"reject-reason":"Above target","result":false,"error":null,"id":6}`+"\n"; got != want {
		t.Fatalf("share above target: got %q want %q", got, want)
	}
	// hashgate's decoder reads both forms as the rejections they are.
	if m := decode(t, `{"result":false,"error":"Worker mismatch","id":5}`); m.Error == nil || m.Error.Code != sv1.CodeUnauthorized {
		t.Fatalf("Worker mismatch decodes as %+v", m.Error)
	}
	if m := decode(t, `{"reject-reason":"Above target","result":false,"error":null,"id":6}`); m.Error == nil || m.Error.Code != sv1.CodeLowDifficulty {
		t.Fatalf("Above target decodes as %+v", m.Error)
	}
}

// TestRefusingPoolAuthorization: a pool that takes only its account name answers every later
// authorize with result false and an error, and refuses shares under those names.
func TestRefusingPoolAuthorization(t *testing.T) {
	p, c := start(t, func(cfg *pool.Config) { cfg.Auth = pool.AuthRefuseWorkers })
	c.send(`{"id":2,"method":"mining.authorize","params":["acct","x"]}`)
	if got := decode(t, c.line()); !got.Accepted() {
		t.Fatalf("first authorize refused: %+v", got)
	}
	c.send(`{"id":3,"method":"mining.authorize","params":["acct.rig1","x"]}`)
	if got, want := c.line(), `{"id":3,"result":false,"error":[24,"Unauthorized worker",null]}`+"\n"; got != want {
		t.Fatalf("second authorize: got %q want %q", got, want)
	}
	c.submit("4", "acct.rig1")
	if got := decode(t, c.line()); got.Error == nil || got.Error.Code != sv1.CodeUnauthorized {
		t.Fatalf("share under a refused name: %+v", got)
	}
	if p.Rejected() != 1 {
		t.Fatalf("rejected %d", p.Rejected())
	}
}

// TestAnyNamePoolAuthorization: a pool like public-pool authorizes every name.
func TestAnyNamePoolAuthorization(t *testing.T) {
	_, c := start(t, nil)
	for i, name := range []string{"acct", "acct.rig1", "acct.rig2"} {
		c.send(`{"id":` + strconv.Itoa(2+i) + `,"method":"mining.authorize","params":["` + name + `","x"]}`)
		if got := decode(t, c.line()); !got.Accepted() {
			t.Fatalf("authorize %s: %+v", name, got)
		}
	}
	c.submit("9", "acct.rig2")
	if got := decode(t, c.line()); got.Error == nil || got.Error.Code != sv1.CodeLowDifficulty {
		t.Fatalf("share under an authorized name is judged on its merits: %+v", got)
	}
	c.submit("10", "acct.rig3")
	if got := decode(t, c.line()); got.Error == nil || got.Error.Code != sv1.CodeUnauthorized {
		t.Fatalf("share under a name never authorized: %+v", got)
	}
}

// TestSilentSubmits: the pool keeps sending work and answering other requests, but never
// answers a share.
func TestSilentSubmits(t *testing.T) {
	p, c := start(t, nil)
	c.send(`{"id":2,"method":"mining.authorize","params":["acct","x"]}`)
	c.line()
	p.SetMode(pool.SilentSubmits)
	c.submit("3", "acct")
	c.send(`{"id":4,"method":"mining.extranonce.subscribe","params":[]}`)
	if got := decode(t, c.line()); string(got.ID) != "4" {
		t.Fatalf("a share was answered: %s", got.ID)
	}
	p.NewJob()
	if got := decode(t, c.line()); got.Method != sv1.MethodNotify {
		t.Fatalf("no job while silent on shares: %+v", got)
	}
}

// TestDropAtNextSubmit: the pool closes the connection that sends the next share, once,
// without answering it; the client's next connection is served normally.
func TestDropAtNextSubmit(t *testing.T) {
	p, c := start(t, nil)
	c.send(`{"id":2,"method":"mining.authorize","params":["acct","x"]}`)
	c.line()
	p.DropAtNextSubmit()
	c.submit("3", "acct")
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if l, err := c.br.ReadString('\n'); err == nil {
		t.Fatalf("the pool answered %q instead of dropping the connection", l)
	}
	if p.Sessions() != 1 || p.Rejected() != 0 {
		t.Fatalf("sessions %d rejected %d", p.Sessions(), p.Rejected())
	}
}

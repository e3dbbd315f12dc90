package pool

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/internal/simsrv"
	"github.com/hashgate/hashgate/sim/template"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// Config sets up a simulated pool.
type Config struct {
	// Extranonce1Size and Extranonce2Size are what subscribe hands out (public-pool and ckpool:
	// 4 and 4; OCEAN: 4 and 8; NiceHash: 5+ and 3).
	Extranonce1Size int
	Extranonce2Size int
	// Difficulty is every connection's share difficulty.
	Difficulty float64
	// NBits is the network target of the simulated chain (0x207fffff: regtest).
	NBits uint32
	// JobInterval is how often a new (non-clean) job is sent; BlockInterval how often the
	// chain moves on (a clean job). Zero disables the timer.
	JobInterval   time.Duration
	BlockInterval time.Duration
	// VersionMask is granted to miners asking for version rolling (0: refuse).
	VersionMask uint32
	// MerkleTxs is the merkle branch length of every job.
	MerkleTxs int
	// Seed makes templates reproducible.
	Seed uint64
	// Auth is how mining.authorize is treated (default AuthAny).
	Auth Auth
	// Logger (default: discard).
	Logger *zerolog.Logger
}

// DefaultConfig is a pool like public-pool on regtest.
func DefaultConfig() Config {
	return Config{
		Extranonce1Size: 4,
		Extranonce2Size: 4,
		Difficulty:      1,
		NBits:           0x1d00ffff,
		JobInterval:     30 * time.Second,
		BlockInterval:   10 * time.Minute,
		VersionMask:     0x1fffe000,
		MerkleTxs:       6,
		Seed:            1,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Extranonce1Size < 0 || c.Extranonce1Size > 16 || c.Extranonce2Size < 1 || c.Extranonce2Size > 16 {
		return errors.New("pool: extranonce sizes out of range")
	}
	if _, err := work.TargetFromDifficulty(c.Difficulty); err != nil {
		return err
	}
	if c.MerkleTxs < 0 || c.MerkleTxs > 32 {
		return errors.New("pool: merkle_txs out of range")
	}
	if c.Auth < AuthAny || c.Auth > AuthRefuseWorkers {
		return errors.New("pool: unknown auth mode")
	}
	return nil
}

// Auth is how a pool treats mining.authorize. Real pool software differs, and a proxy that
// passes worker names through meets all of these.
type Auth int

const (
	// AuthAny authorizes every name sent on a connection, as public-pool does; a share is
	// taken under any authorized name and refused as [24,"Unauthorized worker",null] under
	// another.
	AuthAny Auth = iota
	// AuthFirstOnly is ckpool (0.9.9 stratifier.c): the first authorize binds the
	// connection's worker name and is answered {"result":true,"error":null,"id":N}; later
	// ones are ignored without a reply; a share under another name is answered
	// {"result":false,"error":"Worker mismatch","id":N}. Shares are answered in ckpool's
	// form too: a rejection as {"reject-reason":"Above target","result":false,"error":null,
	// "id":N}.
	AuthFirstOnly
	// AuthRefuseWorkers answers the first authorize true and every later one with
	// {"id":N,"result":false,"error":[24,"Unauthorized worker",null]}: a pool that takes
	// only the account name.
	AuthRefuseWorkers
)

// Mode is how the pool treats shares and connections.
type Mode = simsrv.Mode

// Pool behaviours.
const (
	Normal    = simsrv.Normal
	RejectAll = simsrv.RejectAll // answer every share with [23,"Rejected by simulation",null]
	Stall     = simsrv.Stall     // read but never answer or send anything
	// SilentSubmits keeps sending jobs and answering everything but mining.submit.
	SilentSubmits = simsrv.SilentSubmits
)

// Pool is a running simulated pool.
type Pool struct {
	cfg    Config
	log    zerolog.Logger
	target work.Target

	// Server is the accept loop, connection set, modes and share tallies (SetMode, Close,
	// DisconnectAll, Connections, Accepted, AcceptedBy, ...).
	*simsrv.Server

	// dropNext: the next mining.submit read on any connection closes that connection
	// unanswered (DropAtNextSubmit).
	dropNext atomic.Bool

	mu      sync.Mutex
	rng     *rand.Rand
	tpl     *template.Template
	jobSeq  uint64
	conns   map[*conn]struct{}
	nextEn1 uint64
}

// DropAtNextSubmit makes the pool close the connection that sends the next mining.submit,
// without answering it or anything queued behind it: a pool shedding a client under load.
// It happens once.
func (p *Pool) DropAtNextSubmit() { p.dropNext.Store(true) }

// New creates a pool; call Serve or Listen to accept miners.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, log: zerolog.Nop(), conns: map[*conn]struct{}{}, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6861736867617465))}
	if cfg.Logger != nil {
		p.log = *cfg.Logger
	}
	p.target, _ = work.TargetFromDifficulty(cfg.Difficulty)
	p.Server = simsrv.New()
	var prev [32]byte
	binary.LittleEndian.PutUint64(prev[:], p.rng.Uint64())
	p.tpl = template.Build(p.rng, 100, prev, cfg.NBits, cfg.Extranonce1Size+cfg.Extranonce2Size, cfg.MerkleTxs)
	p.Go(p.timers)
	return p, nil
}

// Listen starts accepting on addr ("127.0.0.1:0" for a free port) and returns the address.
func (p *Pool) Listen(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	p.Serve(l)
	return l.Addr().String(), nil
}

// Serve accepts miners on l in the background.
func (p *Pool) Serve(l net.Listener) { p.Accept(l, p.serve) }

// NewBlock moves the chain on: every connection gets a clean job.
func (p *Pool) NewBlock() {
	p.mu.Lock()
	var prev [32]byte
	binary.LittleEndian.PutUint64(prev[:], p.rng.Uint64())
	p.tpl = template.Build(p.rng, p.tpl.Height+1, prev, p.cfg.NBits, p.cfg.Extranonce1Size+p.cfg.Extranonce2Size, p.cfg.MerkleTxs)
	p.mu.Unlock()
	p.broadcast(true)
}

// NewJob sends every connection a new job for the same block.
func (p *Pool) NewJob() { p.broadcast(false) }

func (p *Pool) timers() {
	var jobC, blockC <-chan time.Time
	if p.cfg.JobInterval > 0 {
		t := time.NewTicker(p.cfg.JobInterval)
		defer t.Stop()
		jobC = t.C
	}
	if p.cfg.BlockInterval > 0 {
		t := time.NewTicker(p.cfg.BlockInterval)
		defer t.Stop()
		blockC = t.C
	}
	for {
		select {
		case <-p.Done():
			return
		case <-jobC:
			p.NewJob()
		case <-blockC:
			p.NewBlock()
		}
	}
}

func (p *Pool) broadcast(clean bool) {
	p.mu.Lock()
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.sendJob(clean)
	}
}

// newJob cuts a job from the current template.
func (p *Pool) newJob(clean bool) *poolJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jobSeq++
	t := p.tpl
	return &poolJob{
		id:    strconv.FormatUint(p.jobSeq, 16),
		tpl:   t,
		ntime: uint32(time.Now().Unix()),
		clean: clean,
	}
}

type poolJob struct {
	id    string
	tpl   *template.Template
	ntime uint32
	clean bool
}

// conn is one client connection.
type conn struct {
	p    *Pool
	nc   net.Conn
	out  chan []byte
	en1  []byte
	mask uint32

	mu      sync.Mutex
	jobs    map[string]*work.Job
	order   []string
	seen    map[[32]byte]struct{}
	authed  map[string]bool
	authN   int // authorize requests seen
	subbed  bool
	lastTpl *template.Template
}

func (p *Pool) serve(nc net.Conn) {
	p.mu.Lock()
	p.nextEn1++
	en1 := make([]byte, p.cfg.Extranonce1Size)
	v := p.nextEn1
	for i := len(en1) - 1; i >= 0; i-- {
		en1[i] = byte(v)
		v >>= 8
	}
	c := &conn{p: p, nc: nc, out: make(chan []byte, 1024), en1: en1, jobs: map[string]*work.Job{}, seen: map[[32]byte]struct{}{}, authed: map[string]bool{}}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		simsrv.WriteLoop(nc, c.out)
	}()
	defer func() { c.out <- nil; <-done }()
	lr := sv1.NewLineReader(nc, 64<<10)
	var m sv1.Message
	for {
		line, err := lr.ReadLine()
		if err != nil {
			return
		}
		if p.Mode() == Stall {
			continue
		}
		if err := sv1.DecodeInto(&m, line); err != nil {
			c.send(sv1.AppendErrorResponse(nil, nil, sv1.NewError(20, "Parse error")))
			continue
		}
		if m.Method == sv1.MethodSubmit && p.dropNext.CompareAndSwap(true, false) {
			return
		}
		c.handle(&m)
	}
}

func (c *conn) send(b []byte) {
	select {
	case c.out <- b:
	default:
		c.nc.Close() // a client that does not read is dropped, as pools do
	}
}

func (c *conn) handle(m *sv1.Message) {
	p := c.p
	switch m.Method {
	case sv1.MethodConfigure:
		var cf sv1.Configure
		if err := m.UnmarshalParams(&cf); err != nil {
			c.send(sv1.AppendErrorResponse(nil, m.ID, sv1.NewError(20, "Invalid params")))
			return
		}
		res := sv1.ConfigureResult{}
		if cf.Has("version-rolling") {
			c.mask = cf.Mask() & p.cfg.VersionMask
			res.VersionRolling = &sv1.ExtensionResult{OK: c.mask != 0}
			res.VersionRollingMask, res.HasVersionRollingMask = c.mask, true
		}
		line, _ := sv1.AppendResponse(nil, m.ID, res, nil)
		c.send(line)
	case sv1.MethodSubscribe:
		res := sv1.NewSubscribeResult(hex.EncodeToString(c.en1), c.en1, p.cfg.Extranonce2Size)
		line, _ := sv1.AppendResponse(nil, m.ID, res, nil)
		c.send(line)
		c.mu.Lock()
		c.subbed = true
		c.mu.Unlock()
		// Like ckpool: difficulty and a first job right after the subscribe reply.
		d, _ := sv1.AppendNotification(nil, &sv1.SetDifficulty{Difficulty: json.Number(strconv.FormatFloat(p.cfg.Difficulty, 'f', -1, 64))})
		c.send(d)
		c.sendJob(true)
	case sv1.MethodAuthorize:
		var a sv1.Authorize
		if err := m.UnmarshalParams(&a); err != nil {
			c.send(sv1.AppendErrorResponse(nil, m.ID, sv1.NewError(20, "Invalid params")))
			return
		}
		c.authorize(m.ID, a.Username)
	case sv1.MethodExtranonceSubscribe:
		c.send(sv1.AppendBoolResponse(nil, m.ID, true))
	case sv1.MethodSubmit:
		c.submit(m)
	default:
		if m.IsRequest() {
			c.send(sv1.AppendErrorResponse(nil, m.ID, sv1.StandardError(20)))
		}
	}
}

// authorize answers mining.authorize as the configured pool software does.
func (c *conn) authorize(id json.RawMessage, name string) {
	c.mu.Lock()
	c.authN++
	first := c.authN == 1
	if first || c.p.cfg.Auth == AuthAny {
		c.authed[name] = true
	}
	c.mu.Unlock()
	switch {
	case c.p.cfg.Auth == AuthFirstOnly && first:
		c.sendJSON(ckReply{Result: true, ID: id})
	case c.p.cfg.Auth == AuthFirstOnly:
		// ckpool: "Client %s %s trying to authorise twice", and nothing goes back.
	case c.p.cfg.Auth == AuthRefuseWorkers && !first:
		c.sendJSON(falseReply{ID: id, Error: []any{24, "Unauthorized worker", nil}})
	default:
		c.send(sv1.AppendBoolResponse(nil, id, true))
	}
}

// ckReply is a response in ckpool's member order: jansson keeps insertion order, and
// ckpool sets reject-reason while judging, then result, error and id.
type ckReply struct {
	RejectReason string          `json:"reject-reason,omitempty"`
	Result       bool            `json:"result"`
	Error        any             `json:"error"` // null or a bare string
	ID           json.RawMessage `json:"id"`
}

// falseReply is a refusal carrying both result false and an error.
type falseReply struct {
	ID     json.RawMessage `json:"id"`
	Result bool            `json:"result"`
	Error  any             `json:"error"`
}

func (c *conn) sendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	c.send(append(b, '\n'))
}

func (c *conn) sendJob(clean bool) {
	c.mu.Lock()
	if !c.subbed {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	pj := c.p.newJob(clean)
	t := pj.tpl
	j := &work.Job{
		ID: pj.id, PrevHash: t.Prev, Coinb1: t.Coinb1, Coinb2: t.Coinb2, Extranonce1: c.en1,
		Extranonce2Size: c.p.cfg.Extranonce2Size, Branch: t.Branch, Version: t.Version, NBits: t.NBits, NTime: pj.ntime,
	}
	if err := j.Prepare(); err != nil {
		return
	}
	c.mu.Lock()
	if clean || c.lastTpl != t {
		clear(c.jobs)
		c.order = c.order[:0]
		clear(c.seen)
		pj.clean = true
	}
	c.lastTpl = t
	c.jobs[j.ID] = j
	c.order = append(c.order, j.ID)
	if len(c.order) > 8 {
		delete(c.jobs, c.order[0])
		c.order = c.order[1:]
	}
	c.mu.Unlock()
	n := sv1.Notify{JobID: j.ID, PrevHash: work.PrevHashToStratum(t.Prev), Coinb1: t.Coinb1, Coinb2: t.Coinb2, Branch: t.Branch, Version: t.Version, NBits: t.NBits, NTime: pj.ntime, Clean: pj.clean}
	c.send(sv1.AppendNotify(nil, &n))
}

// reject refuses a share: [code,"msg",null] in the common form; under AuthFirstOnly the way
// ckpool does it, result false with the reason in "reject-reason", or, for what ckpool
// answers before judging the share (a worker mismatch, a bad version mask), in "error" as a
// bare string.
func (c *conn) reject(id json.RawMessage, code int, msg string) {
	c.p.CountRejected()
	if c.p.cfg.Auth == AuthFirstOnly {
		switch ck := ckReason(code, msg); ck {
		case "Worker mismatch", "Invalid version mask":
			c.sendJSON(ckReply{Error: ck, ID: id})
		default:
			c.sendJSON(ckReply{RejectReason: ck, ID: id})
		}
		return
	}
	c.send(sv1.AppendErrorResponse(nil, id, sv1.NewError(code, msg)))
}

// ckReason is ckpool's text (its share_errs table) for a reject.
func ckReason(code int, msg string) string {
	switch {
	case code == 24:
		return "Worker mismatch"
	case code == 21:
		return "Invalid JobID"
	case code == 22:
		return "Duplicate"
	case code == 23:
		return "Above target"
	}
	return msg
}

func (c *conn) submit(m *sv1.Message) {
	p := c.p
	if p.Mode() == SilentSubmits {
		return
	}
	var s sv1.Submit
	if err := m.UnmarshalParams(&s); err != nil {
		c.reject(m.ID, 20, "Invalid params")
		return
	}
	if p.Mode() == RejectAll {
		c.reject(m.ID, 23, "Rejected by simulation")
		return
	}
	c.mu.Lock()
	j := c.jobs[s.JobID]
	authed := c.authed[s.Worker]
	c.mu.Unlock()
	switch {
	case !authed && p.cfg.Auth == AuthFirstOnly:
		c.reject(m.ID, 24, "Worker mismatch")
		return
	case !authed:
		c.reject(m.ID, 24, "Unauthorized worker")
		return
	case j == nil:
		c.reject(m.ID, 21, "Job not found (=stale)")
		return
	case len(s.Extranonce2) != p.cfg.Extranonce2Size:
		c.reject(m.ID, 20, "Invalid nonce2 length")
		return
	case j.CheckNTime(s.NTime) != nil:
		c.reject(m.ID, 20, "Ntime out of range")
		return
	}
	version := j.Version
	if s.HasVersionBits {
		v, err := work.MergeVersion(j.Version, s.VersionBits, c.mask)
		if err != nil {
			c.reject(m.ID, 20, "Invalid version mask")
			return
		}
		version = v
	}
	var h work.Hasher
	hash, _, err := h.Hash(j, &work.Header{Extranonce2: s.Extranonce2, NTime: s.NTime, Nonce: s.Nonce, Version: version})
	if err != nil {
		c.reject(m.ID, 20, err.Error())
		return
	}
	c.mu.Lock()
	_, dup := c.seen[hash]
	c.seen[hash] = struct{}{}
	c.mu.Unlock()
	if dup {
		c.reject(m.ID, 22, "Duplicate share")
		return
	}
	// A solved block goes to the node before the share is judged: on a test network whose
	// target is easier than the pool's share target, the block counts while the share is
	// refused for its difficulty.
	if j.NetworkTarget().Met(&hash) {
		p.log.Info().Str("worker", s.Worker).Msg("block found")
		p.CountBlock()
	}
	if !p.target.Met(&hash) {
		c.reject(m.ID, 23, fmt.Sprintf("Low difficulty share (%.6g)", work.HashDifficulty(&hash)))
		return
	}
	p.CountAccepted(s.Worker, false)
	if p.cfg.Auth == AuthFirstOnly {
		c.sendJSON(ckReply{Result: true, ID: m.ID})
		return
	}
	c.send(sv1.AppendBoolResponse(nil, m.ID, true))
}

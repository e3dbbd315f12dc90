package pool2

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/internal/simsrv"
	"github.com/hashgate/hashgate/sim/template"
	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/work"
)

// Config sets up a simulated SV2 pool.
type Config struct {
	// Authority signs the pool's certificate (nil: a fresh key).
	Authority *noise.AuthorityKey
	// PrefixSize is the extranonce_prefix the pool fixes per channel; ExtranonceSize is what
	// an extended channel may roll (a request for more is refused).
	PrefixSize     int
	ExtranonceSize int
	// Difficulty is every channel's share difficulty.
	Difficulty float64
	// NBits is the network target of the simulated chain.
	NBits uint32
	// JobInterval is how often a new job on the same block is sent; BlockInterval how often
	// the chain moves on (future job + SetNewPrevHash). Zero disables the timer.
	JobInterval   time.Duration
	BlockInterval time.Duration
	// NoVersionRolling sends jobs with version_rolling_allowed = false.
	NoVersionRolling bool
	// Witness sends coinbase halves with BIP141 marker, flag and witness, as older SRI pools do.
	Witness bool
	// MerkleTxs is the merkle branch length of every job.
	MerkleTxs int
	// Seed makes templates and keys reproducible.
	Seed uint64
	// Logger (default: discard).
	Logger *zerolog.Logger
}

// DefaultConfig is a pool like an SRI pool on regtest.
func DefaultConfig() Config {
	return Config{
		PrefixSize:     4,
		ExtranonceSize: 8,
		Difficulty:     1,
		NBits:          0x1d00ffff,
		JobInterval:    30 * time.Second,
		BlockInterval:  10 * time.Minute,
		MerkleTxs:      6,
		Seed:           1,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.PrefixSize < 1 || c.PrefixSize > 16 || c.ExtranonceSize < 1 || c.PrefixSize+c.ExtranonceSize > 32 {
		return errors.New("pool2: extranonce sizes out of range (prefix ≥ 1, total ≤ 32)")
	}
	if _, err := work.TargetFromDifficulty(c.Difficulty); err != nil {
		return err
	}
	if c.MerkleTxs < 0 || c.MerkleTxs > 32 {
		return errors.New("pool2: merkle_txs out of range")
	}
	return nil
}

// Mode is how the pool treats shares and connections.
type Mode = simsrv.Mode

// Pool behaviours.
const (
	Normal    = simsrv.Normal
	RejectAll = simsrv.RejectAll // answer every share with SubmitShares.Error "difficulty-too-low"
	Stall     = simsrv.Stall     // read but never answer or send anything
)

// Pool is a running simulated SV2 pool.
type Pool struct {
	cfg       Config
	log       zerolog.Logger
	authority *noise.AuthorityKey
	static    *noise.KeyPair
	cert      noise.Certificate

	target atomic.Pointer[work.Target]

	// Server is the accept loop, connection set, modes and share tallies (SetMode, Close,
	// DisconnectAll, Connections, Accepted, AcceptedBy, ...).
	*simsrv.Server

	mu      sync.Mutex
	rng     *rand.Rand
	tpl     *template.Template
	conns   map[*conn]struct{}
	nextPfx uint64

	jobSeq atomic.Uint32
	rates  sync.Map // user identity -> float32 (last nominal hashrate)
}

// New creates a pool; call Listen or Serve to accept clients.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, log: zerolog.Nop(), conns: map[*conn]struct{}{}, rng: rand.New(rand.NewPCG(cfg.Seed, 0x7632706f6f6c))}
	if cfg.Logger != nil {
		p.log = *cfg.Logger
	}
	t := work.MustTarget(cfg.Difficulty)
	p.target.Store(&t)
	var err error
	if p.authority = cfg.Authority; p.authority == nil {
		if p.authority, err = noise.GenerateAuthority(nil); err != nil {
			return nil, err
		}
	}
	if p.static, err = noise.NewKeyPair(nil); err != nil {
		return nil, err
	}
	now := time.Now()
	if p.cert, err = noise.IssueServerCertificate(p.authority, p.static, now.Add(-time.Hour), now.Add(24*time.Hour), nil); err != nil {
		return nil, err
	}
	p.Server = simsrv.New()
	var prev [32]byte
	binary.LittleEndian.PutUint64(prev[:], p.rng.Uint64())
	p.tpl = template.Build(p.rng, 100, prev, cfg.NBits, cfg.PrefixSize+cfg.ExtranonceSize, cfg.MerkleTxs)
	p.Go(p.timers)
	return p, nil
}

// AuthorityKey is the Base58Check authority public key clients pin (the path of a
// stratum2+tcp URL).
func (p *Pool) AuthorityKey() string { return noise.EncodeAuthorityKey(p.authority.PublicKey()) }

// AuthorityPublicKey is the authority key in binary form.
func (p *Pool) AuthorityPublicKey() noise.AuthorityPublicKey { return p.authority.PublicKey() }

// Listen starts accepting on addr ("127.0.0.1:0" for a free port) and returns the address.
func (p *Pool) Listen(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	if err := p.Serve(l); err != nil {
		l.Close()
		return "", err
	}
	return l.Addr().String(), nil
}

// Serve accepts clients on l in the background, each after a Noise handshake.
func (p *Pool) Serve(l net.Listener) error {
	ncfg := noise.DefaultConfig()
	ncfg.MaxPayload = 64 << 10
	nl, err := noise.NewListener(l, p.static, p.cert, ncfg)
	if err != nil {
		return err
	}
	p.Accept(nl, func(c net.Conn) { p.serve(c.(*noise.Conn)) })
	return nil
}

// NominalHashrate is the last nominal_hash_rate a user's channel announced (open or
// UpdateChannel).
func (p *Pool) NominalHashrate(user string) float32 {
	if v, ok := p.rates.Load(user); ok {
		return v.(float32)
	}
	return 0
}

// NewBlock moves the chain on: every channel gets a future job and SetNewPrevHash.
func (p *Pool) NewBlock() {
	p.mu.Lock()
	var prev [32]byte
	binary.LittleEndian.PutUint64(prev[:], p.rng.Uint64())
	p.tpl = template.Build(p.rng, p.tpl.Height+1, prev, p.cfg.NBits, p.cfg.PrefixSize+p.cfg.ExtranonceSize, p.cfg.MerkleTxs)
	p.mu.Unlock()
	p.broadcast(func(c *conn) { c.sendJobs(true) })
}

// NewJob sends every channel a new job on the same block (min_ntime set: it starts at once).
func (p *Pool) NewJob() { p.broadcast(func(c *conn) { c.sendJobs(false) }) }

// SetDifficulty changes every channel's target with SetTarget.
func (p *Pool) SetDifficulty(d float64) error {
	t, err := work.TargetFromDifficulty(d)
	if err != nil {
		return err
	}
	p.target.Store(&t)
	p.broadcast(func(c *conn) { c.setTargetAll(t) })
	return nil
}

func (p *Pool) template() *template.Template {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tpl
}

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

func (p *Pool) broadcast(f func(*conn)) {
	p.mu.Lock()
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		f(c)
	}
}

// nextPrefix hands out a unique extranonce_prefix.
func (p *Pool) nextPrefix() []byte {
	p.mu.Lock()
	p.nextPfx++
	v := p.nextPfx
	p.mu.Unlock()
	b := make([]byte, p.cfg.PrefixSize)
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

package miner

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/internal/simsrv"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// Config describes one simulated miner.
type Config struct {
	// Addr is the proxy or pool, host:port.
	Addr string
	// Username is the worker name sent in mining.authorize (e.g. "rack1.s21-07").
	Username string
	Password string
	// UserAgent is sent in mining.subscribe.
	UserAgent string
	// HashRate is hashes per second (0: as fast as one core goes).
	HashRate float64
	// VersionRolling asks for BIP310 version rolling and rolls the granted bits.
	VersionRolling bool
	// Reconnect makes the miner reconnect after a lost connection (after ReconnectDelay).
	Reconnect      bool
	ReconnectDelay time.Duration
	Logger         *zerolog.Logger
}

// Stats counts what a miner saw.
type Stats struct {
	Submitted atomic.Uint64
	Accepted  atomic.Uint64
	Rejected  atomic.Uint64
	Jobs      atomic.Uint64
	Connects  atomic.Uint64
	Hashes    atomic.Uint64
}

// Miner is one simulated miner.
type Miner struct {
	cfg   Config
	log   zerolog.Logger
	Stats Stats

	rate atomic.Uint64 // float64 bits: current hashes per second (0: unpaced)

	mu       sync.Mutex
	job      *minerJob
	nextDiff float64
	en1      []byte
	n2       int
	mask     uint32
	lastErr  string
	rejects  map[int]uint64
	jobSig   chan struct{}
}

type minerJob struct {
	id     string
	job    *work.Job
	target work.Target
	seq    uint64
}

// New returns a miner; Run starts it.
func New(cfg Config) *Miner {
	m := &Miner{cfg: cfg, log: zerolog.Nop(), rejects: map[int]uint64{}, jobSig: make(chan struct{}, 1)}
	if cfg.Logger != nil {
		m.log = cfg.Logger.With().Str("miner", cfg.Username).Logger()
	}
	if m.cfg.UserAgent == "" {
		m.cfg.UserAgent = "hashgate-sim-miner/1.0"
	}
	if m.cfg.ReconnectDelay == 0 {
		m.cfg.ReconnectDelay = time.Second
	}
	m.SetHashRate(cfg.HashRate)
	return m
}

// SetHashRate changes the miner's speed at once (a firmware that throttles or sleeps); 0 with
// a configured HashRate means asleep: no hashing until it is raised again.
func (m *Miner) SetHashRate(r float64) { m.rate.Store(math.Float64bits(r)) }

// Worker is the miner's worker name.
func (m *Miner) Worker() string { return m.cfg.Username }

// HashRate is the current speed.
func (m *Miner) HashRate() float64 { return math.Float64frombits(m.rate.Load()) }

// Rejects returns reject counts by error code.
func (m *Miner) Rejects() map[int]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]uint64{}
	for k, v := range m.rejects {
		out[k] = v
	}
	return out
}

// Difficulty is the difficulty of the job being mined.
func (m *Miner) Difficulty() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.job == nil {
		return 0
	}
	return m.job.target.Difficulty()
}

// Extranonce1 is what the last subscribe handed out.
func (m *Miner) Extranonce1() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.en1...)
}

// Run mines until ctx ends (or the connection is lost and Reconnect is off).
func (m *Miner) Run(ctx context.Context) error {
	return simsrv.RunSessions(ctx, m.cfg.Reconnect, m.cfg.ReconnectDelay, m.session)
}

func (m *Miner) session(ctx context.Context) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return err
	}
	m.Stats.Connects.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); nc.Close() }()

	var wmu sync.Mutex
	bw := bufio.NewWriter(nc)
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		bw.Write(b)
		return bw.Flush()
	}
	var id atomic.Int64
	req := func(p sv1.Params) error {
		line, err := sv1.AppendRequest(nil, sv1.IntID(id.Add(1)), p)
		if err != nil {
			return err
		}
		return write(line)
	}
	// Pipelined like current ESP-Miner firmware: configure, subscribe, authorize.
	var hs []byte
	if m.cfg.VersionRolling {
		line, _ := sv1.AppendRequest(nil, sv1.IntID(id.Add(1)), &sv1.Configure{Extensions: []string{"version-rolling"}, VersionRollingMask: 0xffffffff, HasVersionRollingMask: true})
		hs = append(hs, line...)
	}
	subID := id.Add(1)
	line, _ := sv1.AppendRequest(nil, sv1.IntID(subID), &sv1.Subscribe{UserAgent: m.cfg.UserAgent})
	hs = append(hs, line...)
	line, _ = sv1.AppendRequest(nil, sv1.IntID(id.Add(1)), &sv1.Authorize{Username: m.cfg.Username, Password: m.cfg.Password})
	hs = append(hs, line...)
	if err := write(hs); err != nil {
		return err
	}
	m.mu.Lock()
	m.job, m.en1 = nil, nil
	m.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.mine(ctx, req)
	}()
	defer wg.Wait()
	defer cancel()

	lr := sv1.NewLineReader(nc, 1<<20)
	var msg sv1.Message
	for {
		line, err := lr.ReadLine()
		if err != nil {
			return err
		}
		if err := sv1.DecodeInto(&msg, line); err != nil {
			continue
		}
		m.handle(&msg, subID, write)
	}
}

func (m *Miner) handle(msg *sv1.Message, subID int64, write func([]byte) error) {
	if msg.IsResponse() {
		if string(msg.ID) == strconv.FormatInt(subID, 10) {
			var sr sv1.SubscribeResult
			if msg.Error == nil && json.Unmarshal(msg.Result, &sr) == nil {
				m.mu.Lock()
				m.en1, m.n2 = sr.Extranonce1, sr.Extranonce2Size
				m.mu.Unlock()
			}
			return
		}
		var cr sv1.ConfigureResult
		if len(msg.Result) > 0 && msg.Result[0] == '{' && json.Unmarshal(msg.Result, &cr) == nil {
			if cr.VersionRolling != nil && cr.VersionRolling.OK {
				m.mu.Lock()
				m.mask = cr.VersionRollingMask
				m.mu.Unlock()
			}
			return
		}
		if msg.Error != nil {
			m.Stats.Rejected.Add(1)
			m.mu.Lock()
			m.rejects[msg.Error.Code]++
			m.lastErr = msg.Error.Message
			m.mu.Unlock()
		} else if msg.Accepted() {
			m.Stats.Accepted.Add(1)
		}
		return
	}
	switch msg.Method {
	case sv1.MethodSetDifficulty:
		var sd sv1.SetDifficulty
		if msg.UnmarshalParams(&sd) == nil {
			if d, err := strconv.ParseFloat(string(sd.Difficulty), 64); err == nil {
				m.mu.Lock()
				m.nextDiff = d // firmware latches it at the next notify
				m.mu.Unlock()
			}
		}
	case sv1.MethodSetVersionMask:
		var vm sv1.SetVersionMask
		if msg.UnmarshalParams(&vm) == nil {
			m.mu.Lock()
			m.mask = vm.Mask
			m.mu.Unlock()
		}
	case sv1.MethodNotify:
		var n sv1.Notify
		if msg.UnmarshalParams(&n) != nil {
			return
		}
		m.mu.Lock()
		d := m.nextDiff
		if d == 0 {
			d = 1
		}
		t, err := work.TargetFromDifficulty(d)
		if err != nil || m.en1 == nil && m.n2 == 0 {
			m.mu.Unlock()
			return
		}
		j := &work.Job{ID: n.JobID, PrevHash: work.PrevHashFromStratum(n.PrevHash), Coinb1: n.Coinb1, Coinb2: n.Coinb2,
			Extranonce1: m.en1, Extranonce2Size: m.n2, Branch: n.Branch, Version: n.Version, NBits: n.NBits, NTime: n.NTime}
		if j.Prepare() != nil {
			m.mu.Unlock()
			return
		}
		seq := uint64(1)
		if m.job != nil {
			seq = m.job.seq + 1
		}
		m.job = &minerJob{id: n.JobID, job: j, target: t, seq: seq}
		m.mu.Unlock()
		m.Stats.Jobs.Add(1)
		select {
		case m.jobSig <- struct{}{}:
		default:
		}
	case sv1.MethodPing:
		if msg.IsRequest() {
			line, _ := sv1.AppendResponse(nil, msg.ID, "pong", nil)
			write(line)
		}
	case sv1.MethodGetVersion:
		if msg.IsRequest() {
			line, _ := sv1.AppendResponse(nil, msg.ID, m.cfg.UserAgent, nil)
			write(line)
		}
	case sv1.MethodReconnect:
		// Like ESP-Miner: reconnect to the configured address.
	}
}

// mine hashes the current job: for each extranonce2 it builds the coinbase and merkle root
// once, then scans nonces over the 80-byte header.
func (m *Miner) mine(ctx context.Context, req func(sv1.Params) error) {
	const batch = 256
	var en2Counter uint64
	start := time.Now()
	var done uint64
	for ctx.Err() == nil {
		m.mu.Lock()
		mj := m.job
		mask := m.mask
		m.mu.Unlock()
		if mj == nil {
			select {
			case <-ctx.Done():
				return
			case <-m.jobSig:
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		j := mj.job
		en2Counter++
		en2 := make([]byte, j.Extranonce2Size)
		var ctr [8]byte
		binary.LittleEndian.PutUint64(ctr[:], en2Counter)
		copy(en2, ctr[:]) // a little-endian counter, as ESP-Miner writes it
		version := j.Version
		var vbits uint32
		if mask != 0 {
			vbits = uint32(en2Counter<<13) & mask
			version = j.Version&^mask | vbits
		}
		var hs work.Hasher
		_, header, err := hs.Hash(j, &work.Header{Extranonce2: en2, NTime: j.NTime, Version: version})
		if err != nil {
			continue
		}
		for nonce := uint64(0); nonce < 1<<32 && ctx.Err() == nil; nonce++ {
			binary.LittleEndian.PutUint32(header[76:], uint32(nonce))
			h := work.DoubleSHA256(header[:])
			if mj.target.Met(&h) {
				s := &sv1.Submit{Worker: m.cfg.Username, JobID: mj.id, Extranonce2: en2, NTime: j.NTime, Nonce: uint32(nonce)}
				if mask != 0 {
					s.VersionBits, s.HasVersionBits = vbits, true
				}
				if req(s) != nil {
					return
				}
				m.Stats.Submitted.Add(1)
			}
			if nonce%batch == batch-1 {
				m.Stats.Hashes.Add(batch)
				done += batch
				m.mu.Lock()
				changed := m.job != mj
				m.mu.Unlock()
				if changed {
					break
				}
				if m.cfg.HashRate > 0 {
					// Pace to the current hashrate; asleep (0) means wait until woken.
					for m.HashRate() <= 0 && ctx.Err() == nil {
						select {
						case <-ctx.Done():
							return
						case <-time.After(200 * time.Millisecond):
						}
						start, done = time.Now(), 0
					}
					r := m.HashRate()
					due := start.Add(time.Duration(float64(done) / r * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(wait):
						case <-m.jobSig:
						}
					} else if -wait > time.Second {
						start, done = time.Now(), 0 // after a speed change, do not race to catch up
					}
				}
			}
		}
	}
}

package miner2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/sim/internal/simsrv"
	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// Config describes one simulated SV2 device.
type Config struct {
	// Addr is the proxy or pool, host:port.
	Addr string
	// Authority is the key the server's certificate must be signed by.
	Authority noise.AuthorityPublicKey
	// User is the channel's user_identity (e.g. "rack1.bitaxe-07").
	User string
	// Standard opens a standard channel and sets REQUIRES_STANDARD_JOBS; otherwise the device
	// opens an extended channel and rolls its own extranonce.
	Standard bool
	// HashRate is hashes per second (0: as fast as one core goes); it is also announced as
	// nominal_hash_rate.
	HashRate float64
	// VersionRolling rolls BIP320's general-purpose bits (0x1fffe000, inside BIP323's range)
	// when a job allows rolling.
	VersionRolling bool
	// Reconnect makes the device reconnect after a lost connection (after ReconnectDelay).
	Reconnect      bool
	ReconnectDelay time.Duration
	Logger         *zerolog.Logger
}

// Stats counts what a device saw.
type Stats struct {
	Submitted  atomic.Uint64
	Accepted   atomic.Uint64 // sum of new_submits_accepted_count
	Rejected   atomic.Uint64
	Jobs       atomic.Uint64
	Connects   atomic.Uint64
	Reconnects atomic.Uint64 // Reconnect messages received
	Hashes     atomic.Uint64
}

// Miner is one simulated SV2 device.
type Miner struct {
	cfg   Config
	log   zerolog.Logger
	Stats Stats

	mu      sync.Mutex
	chanID  uint32
	prefix  []byte
	size    int
	target  work.Target
	tip     *tip
	futures map[uint32]sv2.Message
	job     *minerJob
	rejects map[string]uint64
	lastErr string
	jobSig  chan struct{}
}

type tip struct {
	prev     [32]byte
	minNTime uint32
	nbits    uint32
}

// minerJob is the work being hashed: an extended job (j) or a standard one (root).
type minerJob struct {
	id      uint32
	j       *work.Job
	root    [32]byte
	version uint32
	mask    uint32
	ntime   uint32
	tip     tip
}

// New returns a device; Run starts it.
func New(cfg Config) *Miner {
	m := &Miner{cfg: cfg, log: zerolog.Nop(), rejects: map[string]uint64{}, futures: map[uint32]sv2.Message{}, jobSig: make(chan struct{}, 1)}
	if cfg.Logger != nil {
		m.log = cfg.Logger.With().Str("miner", cfg.User).Logger()
	}
	if m.cfg.ReconnectDelay == 0 {
		m.cfg.ReconnectDelay = time.Second
	}
	return m
}

// Rejects returns reject counts by SV2 error code.
func (m *Miner) Rejects() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.rejects))
	for k, v := range m.rejects {
		out[k] = v
	}
	return out
}

// ExtranoncePrefix is what the last channel open handed out.
func (m *Miner) ExtranoncePrefix() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.prefix...)
}

// Difficulty is the channel's current target as a difficulty.
func (m *Miner) Difficulty() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.target == (work.Target{}) {
		return 0
	}
	return m.target.Difficulty()
}

// Run mines until ctx ends (or the connection is lost and Reconnect is off).
func (m *Miner) Run(ctx context.Context) error {
	return simsrv.RunSessions(ctx, m.cfg.Reconnect, m.cfg.ReconnectDelay, m.session)
}

var errReconnect = errors.New("server asked to reconnect")

func (m *Miner) session(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	nc, err := noise.Dial(dctx, "tcp", m.cfg.Addr, m.cfg.Authority, nil)
	cancel()
	if err != nil {
		return err
	}
	m.Stats.Connects.Add(1)
	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); nc.Close() }()

	var wmu sync.Mutex
	write := func(msg sv2.Message) error {
		b, err := sv2.AppendFrame(nil, msg)
		if err != nil {
			return err
		}
		wmu.Lock()
		defer wmu.Unlock()
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err = nc.Write(b)
		return err
	}
	var flags uint32
	if m.cfg.Standard {
		flags |= sv2.FlagRequiresStandardJobs
	}
	if m.cfg.VersionRolling {
		flags |= sv2.FlagRequiresVersionRolling
	}
	m.mu.Lock()
	m.job, m.tip, m.prefix, m.chanID = nil, nil, nil, 0
	clear(m.futures)
	m.mu.Unlock()
	if err := write(&sv2.SetupConnection{Protocol: sv2.ProtocolMining, MinVersion: 2, MaxVersion: 2, Flags: flags,
		Vendor: "hashgate-sim", HardwareVersion: "sim", Firmware: "miner2/1.0", DeviceID: m.cfg.User}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for {
		hdr, payload, err := nc.ReadFrame()
		if err != nil {
			return err
		}
		h, _ := sv2.ParseHeader(hdr[:])
		msg, err := sv2.DecodeMessage(h, payload)
		if err != nil {
			return err
		}
		switch msg := msg.(type) {
		case *sv2.SetupConnectionSuccess:
			all := sv2.U256{}
			for i := range all {
				all[i] = 0xff
			}
			var err error
			if m.cfg.Standard {
				err = write(&sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: m.cfg.User, NominalHashRate: float32(m.cfg.HashRate), MaxTarget: all})
			} else {
				err = write(&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: m.cfg.User, NominalHashRate: float32(m.cfg.HashRate), MaxTarget: all, MinExtranonceSize: 2})
			}
			if err != nil {
				return err
			}
		case *sv2.SetupConnectionError:
			return fmt.Errorf("setup refused: %s", msg.ErrorCode)
		case *sv2.OpenMiningChannelError:
			return fmt.Errorf("channel refused: %s", msg.ErrorCode)
		case *sv2.OpenStandardMiningChannelSuccess:
			m.opened(msg.ChannelID, msg.Target, msg.ExtranoncePrefix, 0)
			wg.Add(1)
			go func() { defer wg.Done(); m.mine(ctx, write) }()
		case *sv2.OpenExtendedMiningChannelSuccess:
			m.opened(msg.ChannelID, msg.Target, msg.ExtranoncePrefix, int(msg.ExtranonceSize))
			wg.Add(1)
			go func() { defer wg.Done(); m.mine(ctx, write) }()
		case *sv2.NewMiningJob:
			m.onJob(msg.JobID, msg.MinNTime, msg)
		case *sv2.NewExtendedMiningJob:
			m.onJob(msg.JobID, msg.MinNTime, msg)
		case *sv2.SetNewPrevHash:
			m.mu.Lock()
			m.tip = &tip{prev: msg.PrevHash, minNTime: msg.MinNTime, nbits: msg.NBits}
			f := m.futures[msg.JobID]
			clear(m.futures)
			m.mu.Unlock()
			if f != nil {
				m.activate(msg.JobID, f, 0)
			}
		case *sv2.SetTarget:
			m.mu.Lock()
			m.target = fromU256(msg.MaximumTarget)
			m.mu.Unlock()
		case *sv2.SubmitSharesSuccess:
			m.Stats.Accepted.Add(uint64(msg.NewSubmitsAcceptedCount))
		case *sv2.SubmitSharesError:
			m.Stats.Rejected.Add(1)
			m.mu.Lock()
			m.rejects[msg.ErrorCode]++
			m.lastErr = msg.ErrorCode
			m.mu.Unlock()
		case *sv2.CloseChannel:
			return fmt.Errorf("channel closed by server: %s", msg.ReasonCode)
		case *sv2.Reconnect:
			m.Stats.Reconnects.Add(1)
			return errReconnect
		}
	}
}

func fromU256(u sv2.U256) (t work.Target) {
	for i := range t {
		t[i] = u[31-i]
	}
	return t
}

func (m *Miner) opened(id uint32, target sv2.U256, prefix []byte, size int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chanID, m.target, m.prefix, m.size = id, fromU256(target), append([]byte(nil), prefix...), size
}

func (m *Miner) onJob(id uint32, minNTime sv2.Option[uint32], msg sv2.Message) {
	if !minNTime.Valid {
		m.mu.Lock()
		m.futures[id] = msg
		m.mu.Unlock()
		return
	}
	m.activate(id, msg, minNTime.Value)
}

// activate makes a job the one being hashed, on top of the current tip.
func (m *Miner) activate(id uint32, msg sv2.Message, minNTime uint32) {
	m.mu.Lock()
	if m.tip == nil {
		m.mu.Unlock()
		return
	}
	mj := &minerJob{id: id, tip: *m.tip, ntime: max(m.tip.minNTime, minNTime)}
	switch msg := msg.(type) {
	case *sv2.NewMiningJob:
		mj.root, mj.version = msg.MerkleRoot, msg.Version
		mj.mask = sv2.VersionRollingMask // standard jobs always allow rolling
	case *sv2.NewExtendedMiningJob:
		cb1, cb2 := stripBIP141(msg.CoinbaseTxPrefix, msg.CoinbaseTxSuffix)
		j := &work.Job{PrevHash: mj.tip.prev, Coinb1: cb1, Coinb2: cb2, Extranonce1: m.prefix, Extranonce2Size: m.size,
			Version: msg.Version, NBits: mj.tip.nbits, NTime: mj.ntime}
		for _, n := range msg.MerklePath {
			j.Branch = append(j.Branch, n)
		}
		if j.Prepare() != nil {
			m.mu.Unlock()
			return
		}
		mj.j, mj.version = j, msg.Version
		if msg.VersionRollingAllowed {
			mj.mask = sv2.VersionRollingMask
		}
	}
	if !m.cfg.VersionRolling {
		mj.mask = 0
	}
	mj.mask &= 0x1fffe000
	m.job = mj
	m.mu.Unlock()
	m.Stats.Jobs.Add(1)
	select {
	case m.jobSig <- struct{}{}:
	default:
	}
}

// stripBIP141 drops segwit marker/flag and the one 32-byte witness item when a coinbase
// arrives in witness serialization (sv2-spec §5.3.10 tolerance on receipt).
func stripBIP141(prefix, suffix []byte) ([]byte, []byte) {
	if len(prefix) < 6 || prefix[4] != 0 || prefix[5] == 0 || len(suffix) < 38 {
		return prefix, suffix
	}
	p := append(append([]byte(nil), prefix[:4]...), prefix[6:]...)
	n := len(suffix)
	s := append(append([]byte(nil), suffix[:n-38]...), suffix[n-4:]...)
	return p, s
}

// mine hashes the current job: for each extranonce (extended) or version roll (standard) it
// builds the header once, then scans nonces.
func (m *Miner) mine(ctx context.Context, write func(sv2.Message) error) {
	const batch = 256
	var roll uint64
	var seq uint32
	start := time.Now()
	var done uint64
	for ctx.Err() == nil {
		m.mu.Lock()
		mj, chanID := m.job, m.chanID
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
		roll++
		version := mj.version
		if mj.mask != 0 {
			version = mj.version&^mj.mask | uint32(roll<<13)&mj.mask
		}
		var header [80]byte
		var en []byte
		if mj.j != nil {
			en = make([]byte, mj.j.Extranonce2Size)
			var ctr [8]byte
			binary.LittleEndian.PutUint64(ctr[:], roll)
			copy(en, ctr[:])
			var hs work.Hasher
			var err error
			if _, header, err = hs.Hash(mj.j, &work.Header{Extranonce2: en, NTime: mj.ntime, Version: version}); err != nil {
				continue
			}
		} else {
			header = work.BuildHeader(version, &mj.tip.prev, &mj.root, mj.ntime, mj.tip.nbits, 0)
		}
		for nonce := uint64(0); nonce < 1<<32 && ctx.Err() == nil; nonce++ {
			binary.LittleEndian.PutUint32(header[76:], uint32(nonce))
			h := work.DoubleSHA256(header[:])
			m.mu.Lock()
			met := m.target.Met(&h)
			m.mu.Unlock()
			if met {
				seq++
				var msg sv2.Message
				if mj.j != nil {
					msg = &sv2.SubmitSharesExtended{ChannelID: chanID, SequenceNumber: seq, JobID: mj.id, Nonce: uint32(nonce), NTime: mj.ntime, Version: version, Extranonce: en}
				} else {
					msg = &sv2.SubmitSharesStandard{ChannelID: chanID, SequenceNumber: seq, JobID: mj.id, Nonce: uint32(nonce), NTime: mj.ntime, Version: version}
				}
				if write(msg) != nil {
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
				if r := m.cfg.HashRate; r > 0 {
					due := start.Add(time.Duration(float64(done) / r * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(wait):
						case <-m.jobSig:
						}
					}
				}
			}
		}
	}
}

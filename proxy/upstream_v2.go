package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// upstreamV2 is one Stratum V2 connection to a pool account, encrypted with Noise and pinned
// to the pool's authority key. It opens one extended channel that every miner of its
// connection index shares (the aggregating layout of sv2.md §5): the channel's
// extranonce_prefix is the job's extranonce1, and hashgate cuts the miners' prefixes out of
// its extranonce_size. It reconnects by itself with jittered exponential backoff.
type upstreamV2 struct {
	pl  *pool
	idx int
	log zerolog.Logger

	mu        sync.Mutex
	connected bool // the channel is open
	chanID    uint32
	groupID   uint32
	prefix    []byte
	size      int
	target    work.Target
	tip       *v2Tip
	future    map[uint32]*sv2.NewExtendedMiningJob
	cur       *work.Job
	rolling   bool
	last      time.Time
	lat       time.Duration
	seq       uint32
	pending   map[uint32]*v2Pending
	order     []uint32 // sequence numbers in pending, oldest first
	out       chan []byte
	sentRate  float32
	rateAt    time.Time
	upSince   time.Time // when this session's channel got its first job (zero: not yet)
}

type v2Pending struct {
	sent      time.Time
	miner     string // the downstream worker, for the reject log
	job       string
	belowPool bool // a block candidate under the pool's target: its verdict does not judge the pool
	done      func(verdict)
}

// maxFutureJobs bounds the future jobs kept while waiting for their SetNewPrevHash.
const maxFutureJobs = 16

// maxPoolFrame caps one frame from an SV2 pool: a job carries two B0_64K coinbase halves and
// a merkle path of at most 255 nodes, well under 256 KiB.
const maxPoolFrame = 256 << 10

func newUpstreamV2(pl *pool, idx int) *upstreamV2 {
	return &upstreamV2{
		pl:      pl,
		idx:     idx,
		log:     pl.p.log.With().Str("pool", pl.cfg.Name).Int("conn", idx).Str("proto", "sv2").Logger(),
		pending: map[uint32]*v2Pending{},
		future:  map[uint32]*sv2.NewExtendedMiningJob{},
	}
}

func (u *upstreamV2) index() int       { return u.idx }
func (u *upstreamV2) poolName() string { return u.pl.cfg.Name }
func (u *upstreamV2) owner() *pool     { return u.pl }
func (u *upstreamV2) up() bool         { u.mu.Lock(); defer u.mu.Unlock(); return u.connected }
func (u *upstreamV2) current() *work.Job {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cur
}
func (u *upstreamV2) lastJob() time.Time     { u.mu.Lock(); defer u.mu.Unlock(); return u.last }
func (u *upstreamV2) latency() time.Duration { u.mu.Lock(); defer u.mu.Unlock(); return u.lat }
func (u *upstreamV2) difficulty() float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.target == (work.Target{}) {
		return 0
	}
	return u.target.Difficulty()
}

// versionMask is what miners may roll: BIP323's bits while the pool's jobs allow rolling.
func (u *upstreamV2) versionMask() uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cur != nil && !u.rolling {
		return 0
	}
	return sv2.VersionRollingMask
}

// ensureWorker does nothing: every miner's shares travel on the one aggregated channel,
// opened under the pool user, so there is no per-worker authorization to wait for or fall
// back from.
func (u *upstreamV2) ensureWorker(string) {}

// run keeps the connection up until the proxy closes.
func (u *upstreamV2) run() { reconnectLoop(u.pl.ctx, u.pl.p, u.log, u.pl.tracked(u.idx, u.session)) }

// sweep counts unknown every share the pool has left unanswered past submit_timeout. Shares
// are pending in the order sent, so only the oldest are looked at.
func (u *upstreamV2) sweep(now time.Time) {
	limit := u.pl.p.cfg.SubmitTimeout.D()
	var late []*v2Pending
	u.mu.Lock()
	n := 0
	for _, seq := range u.order {
		r := u.pending[seq]
		if r != nil && now.Sub(r.sent) < limit {
			break
		}
		n++
		if r != nil {
			delete(u.pending, seq)
			late = append(late, r)
		}
	}
	u.order = u.order[n:]
	u.mu.Unlock()
	for _, r := range late {
		u.pl.timedOut(!r.belowPool)
		r.done(verdict{known: false, message: "no answer within submit_timeout"})
	}
}

var (
	errPoolRefused       = errors.New("pool refused the connection")
	errPoolClosedChannel = errors.New("pool closed the channel")
	errPoolReconnect     = errors.New("pool asked us to reconnect")
)

// session runs one connection: dial, Noise handshake, SetupConnection, OpenExtendedMiningChannel,
// then the read loop; the writer runs beside it. It returns how long the connection carried
// work and why it ended.
func (u *upstreamV2) session() (upFor time.Duration, err error) {
	p := u.pl.p
	defer func() {
		u.mu.Lock()
		if !u.upSince.IsZero() {
			upFor = p.clk.Now().Sub(u.upSince)
		}
		u.upSince = time.Time{}
		u.mu.Unlock()
	}()
	authority, err := noise.DecodeAuthorityKey(u.pl.ep.AuthorityKey)
	if err != nil {
		return 0, fmt.Errorf("pool authority key: %w", err)
	}
	ctx, cancel := context.WithCancel(u.pl.ctx)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
	raw, err := p.dial(dctx, "tcp", u.pl.ep.Host)
	dcancel()
	if err != nil {
		return 0, err
	}
	ncfg := noise.DefaultConfig()
	ncfg.HandshakeTimeout = 15 * time.Second
	ncfg.MaxPayload = maxPoolFrame
	ncfg.Logger = u.log
	nc, err := noise.Client(raw, authority, ncfg)
	if err != nil {
		raw.Close()
		return 0, fmt.Errorf("noise handshake: %w", err)
	}
	out := make(chan []byte, upstreamQueue)
	u.mu.Lock()
	u.out = out
	u.connected, u.tip, u.cur, u.prefix, u.size = false, nil, nil, nil, 0
	clear(u.future)
	u.mu.Unlock()
	u.pl.freshSession(u.idx)

	defer runWriter(ctx, cancel, nc, out, 16<<10, u.pl.p.cfg.WriteTimeout.D(), u.teardown)()
	defer startSweep(ctx, cancel, p, u.sweep)()

	host, port, _ := net.SplitHostPort(u.pl.ep.Host)
	pn, _ := strconv.ParseUint(port, 10, 16)
	u.send(&sv2.SetupConnection{
		Protocol: sv2.ProtocolMining, MinVersion: sv2.ProtocolVersion, MaxVersion: sv2.ProtocolVersion,
		Flags:        sv2.FlagRequiresVersionRolling,
		EndpointHost: host, EndpointPort: uint16(pn),
		Vendor: "hashgate", Firmware: p.cfg.UserAgent,
	})
	u.send(&sv2.OpenExtendedMiningChannel{
		RequestID: 1, UserIdentity: u.pl.cfg.User, NominalHashRate: u.hashrate(),
		MaxTarget: maxU256, MinExtranonceSize: uint16(u.wantExtranonce()),
	})

	ticker := p.clk.NewTicker(10 * time.Second)
	defer ticker.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C():
				u.updateHashrate()
			}
		}
	}()

	setup := false
	for {
		nc.SetReadDeadline(time.Now().Add(p.cfg.JobTimeout.D() + 30*time.Second))
		hdr, payload, err := nc.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errPoolClosed
			}
			return 0, err
		}
		h, _ := sv2.ParseHeader(hdr[:])
		m, err := sv2.DecodeMessage(h, payload)
		if err != nil {
			return 0, err // malformed: the stream cannot be trusted any more
		}
		switch m := m.(type) {
		case *sv2.SetupConnectionSuccess:
			setup = true
		case *sv2.SetupConnectionError:
			return 0, fmt.Errorf("%w: SetupConnection: %s (flags %#x)", errPoolRefused, m.ErrorCode, m.Flags)
		default:
			if !setup {
				return 0, fmt.Errorf("pool sent %s before SetupConnection.Success", sv2.MessageName(m.ExtensionType(), m.MsgType()))
			}
			if err := u.handle(m); err != nil {
				return 0, err
			}
		}
	}
}

// wantExtranonce is the extranonce_size the miners' layout needs on this channel.
func (u *upstreamV2) wantExtranonce() int {
	p := u.pl.p
	p.mu.Lock()
	l, ok := p.layout, p.layoutSet
	p.mu.Unlock()
	if ok {
		return l.PrefixSize + l.MinerSize
	}
	mb := p.cfg.Extranonce.MinerBytes
	if mb == 0 {
		mb = 4
	}
	return p.cfg.Extranonce.PrefixBytes + mb
}

func (u *upstreamV2) handle(m sv2.Message) error {
	p := u.pl.p
	switch m := m.(type) {
	case *sv2.OpenExtendedMiningChannelSuccess:
		u.mu.Lock()
		u.chanID, u.groupID = m.ChannelID, m.GroupChannelID
		u.prefix, u.size = append([]byte(nil), m.ExtranoncePrefix...), int(m.ExtranonceSize)
		u.target = targetFromU256(m.Target)
		u.mu.Unlock()
		if want := u.wantExtranonce(); int(m.ExtranonceSize) < want {
			u.log.Error().Int("extranonce_size", int(m.ExtranonceSize)).Int("asked", want).Msg("pool granted less extranonce than asked")
		}
		u.log.Info().Uint32("channel", m.ChannelID).Int("extranonce_prefix_bytes", len(m.ExtranoncePrefix)).
			Int("extranonce_size", int(m.ExtranonceSize)).Msg("extended channel open")
	case *sv2.OpenMiningChannelError:
		return fmt.Errorf("%w: OpenExtendedMiningChannel: %s", errPoolRefused, m.ErrorCode)
	case *sv2.NewExtendedMiningJob:
		if !u.ours(m.ChannelID) {
			return nil
		}
		if !m.MinNTime.Valid {
			u.mu.Lock()
			if len(u.future) >= maxFutureJobs {
				clear(u.future) // a pool that never names its future jobs: keep the newest only
			}
			u.future[m.JobID] = m
			u.mu.Unlock()
			return nil
		}
		u.activate(m, nil, false)
	case *sv2.SetNewPrevHash:
		if !u.ours(m.ChannelID) {
			return nil
		}
		u.mu.Lock()
		nj := u.future[m.JobID]
		clear(u.future)
		u.mu.Unlock()
		tip := &v2Tip{prevHash: m.PrevHash, minNTime: m.MinNTime, nbits: m.NBits}
		if nj == nil {
			u.mu.Lock()
			u.tip = tip
			u.mu.Unlock()
			u.log.Warn().Uint32("job", m.JobID).Msg("SetNewPrevHash names a job never sent as a future job")
			return nil
		}
		u.activate(nj, tip, true)
	case *sv2.SetTarget:
		if !u.ours(m.ChannelID) {
			return nil
		}
		t := targetFromU256(m.MaximumTarget)
		u.mu.Lock()
		u.target = t
		cur := u.cur
		var j *work.Job
		if cur != nil {
			// SetTarget applies at once: re-publish the work under the new target so shares
			// that no longer meet it stop going upstream.
			cp := *cur
			cp.Target, cp.Clean, cp.Received = t, false, p.clk.Now()
			if cp.Prepare() == nil {
				j = &cp
				u.cur = j
			}
		}
		u.mu.Unlock()
		if j != nil {
			p.onJob(u, u.pl, u.idx, j)
		}
	case *sv2.SetExtranoncePrefix:
		if !u.ours(m.ChannelID) {
			return nil
		}
		u.mu.Lock()
		u.prefix = append([]byte(nil), m.ExtranoncePrefix...)
		u.mu.Unlock()
		u.log.Info().Int("bytes", len(m.ExtranoncePrefix)).Msg("pool changed the extranonce prefix; applies from the next job")
	case *sv2.SubmitSharesSuccess:
		u.settled(m.LastSequenceNumber)
	case *sv2.SubmitSharesError:
		u.rejected(m.SequenceNumber, m.ErrorCode)
	case *sv2.UpdateChannelError:
		u.log.Warn().Str("error", m.ErrorCode).Msg("pool refused UpdateChannel")
	case *sv2.CloseChannel:
		if u.ours(m.ChannelID) {
			return fmt.Errorf("%w: %s", errPoolClosedChannel, m.ReasonCode)
		}
	case *sv2.Reconnect:
		// Always back to the configured pool: a redirect could move the fleet elsewhere, and
		// the authority key would have to vouch for the new host anyway.
		return errPoolReconnect
	default:
		u.log.Debug().Str("msg", sv2.MessageName(m.ExtensionType(), m.MsgType())).Msg("message from pool ignored")
	}
	return nil
}

// ours reports whether a channel message is for our channel (or its group).
func (u *upstreamV2) ours(id uint32) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return id == u.chanID || (u.groupID != 0 && id == u.groupID)
}

// activate turns an extended job into the connection's current work and publishes it. tip is
// the new chain tip (SetNewPrevHash) or nil for an immediate job on the current one.
func (u *upstreamV2) activate(nj *sv2.NewExtendedMiningJob, tip *v2Tip, clean bool) {
	p := u.pl.p
	u.mu.Lock()
	if tip != nil {
		u.tip = tip
	}
	if u.tip == nil {
		u.mu.Unlock()
		u.log.Warn().Uint32("job", nj.JobID).Msg("job before any SetNewPrevHash ignored")
		return
	}
	j, err := jobFromV2(nj, u.tip, u.prefix, u.size, u.target)
	if err != nil {
		u.mu.Unlock()
		u.log.Warn().Err(err).Msg("unusable job from pool")
		return
	}
	now := p.clk.Now()
	j.Clean, j.Received = clean, now
	u.cur, u.last, u.connected, u.rolling = j, now, true, nj.VersionRollingAllowed
	if u.upSince.IsZero() {
		u.upSince = now
	}
	u.mu.Unlock()
	if !nj.VersionRollingAllowed {
		u.log.Warn().Msg("pool job forbids version rolling; miners roll only the nonce")
	}
	p.onJob(u, u.pl, u.idx, j)
}

func (u *upstreamV2) send(m sv2.Message) bool {
	b, err := sv2.AppendFrame(nil, m)
	if err != nil {
		u.log.Error().Err(err).Msg("encoding a frame for the pool")
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.out == nil {
		return false
	}
	select {
	case u.out <- b:
		return true
	default:
		u.pl.p.drops.upstreamQueue.Add(1)
		return false
	}
}

// submit forwards a share as SubmitSharesExtended: the extranonce is everything after the
// channel's extranonce_prefix (the miner's prefix ‖ x ‖ padding) and the version is whole.
func (u *upstreamV2) submit(s *upShare, done func(verdict)) {
	jobID, err := strconv.ParseUint(s.jobID, 10, 32)
	if err != nil {
		done(verdict{known: false, message: "job id not from this pool"})
		return
	}
	u.mu.Lock()
	if u.out == nil || !u.connected {
		u.mu.Unlock()
		u.pl.lost(1, "no connection to the pool")
		done(verdict{known: false, message: "pool unavailable"})
		return
	}
	u.seq++
	m := shareToV2(u.chanID, u.seq, uint32(jobID), s)
	b, err := sv2.AppendFrame(nil, &m)
	if err != nil {
		u.mu.Unlock()
		done(verdict{known: false, message: err.Error()})
		return
	}
	var evicted *v2Pending
	if len(u.order) >= upstreamQueue {
		evicted = u.pending[u.order[0]]
		delete(u.pending, u.order[0])
		u.order = u.order[1:]
	}
	select {
	case u.out <- b:
		u.pending[u.seq] = &v2Pending{sent: u.pl.p.clk.Now(), miner: s.worker, job: s.jobID, belowPool: s.belowPool, done: done}
		u.order = append(u.order, u.seq)
		u.mu.Unlock()
	default:
		u.mu.Unlock()
		u.pl.p.drops.upstreamQueue.Add(1)
		u.pl.lost(1, "upstream send queue full")
		done(verdict{known: false, message: "upstream queue full"})
	}
	if evicted != nil {
		evicted.done(verdict{known: false, message: "no verdict from pool"})
	}
}

// shareToV2 is the SubmitSharesExtended for a share on the upstream channel: the extranonce
// is everything after the channel's extranonce_prefix and the version is the whole header
// version (sv2.md §6).
func shareToV2(chanID, seq, jobID uint32, s *upShare) sv2.SubmitSharesExtended {
	return sv2.SubmitSharesExtended{ChannelID: chanID, SequenceNumber: seq, JobID: jobID,
		Nonce: s.nonce, NTime: s.ntime, Version: s.version, Extranonce: s.extranonce2}
}

// settled resolves every pending share up to last as accepted (SubmitShares.Success covers
// all shares up to its last_sequence_number that were not rejected one by one).
func (u *upstreamV2) settled(last uint32) {
	now := u.pl.p.clk.Now()
	var done []*v2Pending
	u.mu.Lock()
	n := 0
	for _, seq := range u.order {
		if int32(seq-last) > 0 {
			break
		}
		n++
		if r := u.pending[seq]; r != nil {
			delete(u.pending, seq)
			done = append(done, r)
			u.lat = now.Sub(r.sent)
		}
	}
	u.order = u.order[n:]
	u.mu.Unlock()
	if len(done) > 0 {
		u.pl.answered()
	}
	for _, r := range done {
		if !r.belowPool {
			u.pl.rejects.add(false)
		}
		r.done(verdict{known: true, accepted: true, latency: now.Sub(r.sent)})
	}
}

func (u *upstreamV2) rejected(seq uint32, code string) {
	now := u.pl.p.clk.Now()
	u.mu.Lock()
	r := u.pending[seq]
	delete(u.pending, seq)
	u.mu.Unlock()
	if r == nil {
		return
	}
	u.pl.answered()
	if !r.belowPool {
		u.pl.rejects.add(true)
		u.pl.logReject(r.miner, r.job, code)
	}
	r.done(verdict{known: true, code: codeFromV2Error(code), message: code, latency: now.Sub(r.sent)})
}

// teardown fails every share still waiting on the lost connection.
func (u *upstreamV2) teardown() {
	u.mu.Lock()
	u.connected = false
	u.out = nil
	pend := u.pending
	u.pending, u.order = map[uint32]*v2Pending{}, nil
	u.mu.Unlock()
	u.pl.lost(len(pend), "connection lost with shares in flight")
	for _, r := range pend {
		r.done(verdict{known: false, message: "pool connection lost"})
	}
}

// hashrate is the measured 5 min hashrate of the running miners riding on this connection
// index while this pool is the one they mine for (0 for a standby pool; a paused miner's
// shares do not reach the pool).
func (u *upstreamV2) hashrate() float32 {
	p := u.pl.p
	if p.activePool() != u.pl {
		return 0
	}
	now := p.clk.Now()
	g := p.groupFor(u.idx)
	g.mu.Lock()
	var sum float64
	for c := range g.miners {
		if !c.paused.Load() {
			sum += c.rate.rates(now, c.connected).H5m
		}
	}
	g.mu.Unlock()
	return float32(sum)
}

// updateHashrate sends UpdateChannel when the channel's hashrate moved by more than a tenth,
// or every five minutes, so the pool's vardiff follows the fleet (sv2-spec §5.3.6).
func (u *upstreamV2) updateHashrate() {
	h := u.hashrate()
	now := u.pl.p.clk.Now()
	u.mu.Lock()
	if !u.connected {
		u.mu.Unlock()
		return
	}
	prev, at, id := u.sentRate, u.rateAt, u.chanID
	moved := h != prev && (prev == 0 || h/prev > 1.1 || h/prev < 0.9)
	if !moved && now.Sub(at) < 5*time.Minute {
		u.mu.Unlock()
		return
	}
	u.sentRate, u.rateAt = h, now
	u.mu.Unlock()
	u.send(&sv2.UpdateChannel{ChannelID: id, NominalHashRate: h, MaximumTarget: maxU256})
}

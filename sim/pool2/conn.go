package pool2

import (
	"sync"
	"time"

	"github.com/hashgate/hashgate/sim/internal/simsrv"
	"github.com/hashgate/hashgate/sim/template"
	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// conn is one client connection.
type conn struct {
	p   *Pool
	nc  *noise.Conn
	out chan []byte

	// reader-only, and under mu for the broadcasters
	mu           sync.Mutex
	setup        bool
	standardOnly bool
	chans        map[uint32]*channel
	nextID       uint32
}

// channel is one open channel and the jobs it may submit for.
type channel struct {
	id       uint32
	user     string
	standard bool
	prefix   []byte // extended: the pool's prefix; standard: the whole extranonce
	size     int    // extended: bytes the client rolls
	target   work.Target
	jobs     map[uint32]*work.Job
	lastJob  uint32
	minNTime uint32 // the chain tip's min_ntime
	seen     map[[32]byte]struct{}
	hasher   work.Hasher
}

// group is the group channel id of every channel; channel ids start above it.
const group = 1

func (p *Pool) serve(nc *noise.Conn) {
	c := &conn{p: p, nc: nc, out: make(chan []byte, 1024), chans: map[uint32]*channel{}, nextID: group + 1}
	p.mu.Lock()
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
	for {
		hdr, payload, err := nc.ReadFrame()
		if err != nil {
			return
		}
		if p.Mode() == Stall {
			continue
		}
		h, _ := sv2.ParseHeader(hdr[:])
		m, err := sv2.DecodeMessage(h, payload)
		if err != nil {
			p.log.Info().Err(err).Msg("malformed message; closing")
			return
		}
		if !c.handle(m) {
			return
		}
	}
}

func (c *conn) send(m sv2.Message) {
	b, err := sv2.AppendFrame(nil, m)
	if err != nil {
		c.p.log.Error().Err(err).Msg("encoding")
		return
	}
	select {
	case c.out <- b:
	default:
		c.nc.Close() // a client that does not read is dropped, as pools do
	}
}

// handle processes one message; false ends the connection.
func (c *conn) handle(m sv2.Message) bool {
	p := c.p
	if sc, ok := m.(*sv2.SetupConnection); ok {
		c.mu.Lock()
		again := c.setup
		c.mu.Unlock()
		switch {
		case again:
			return false
		case sc.Protocol != sv2.ProtocolMining:
			c.send(&sv2.SetupConnectionError{ErrorCode: "unsupported-protocol"})
			return true
		case sc.Flags&sv2.FlagRequiresWorkSelection != 0:
			c.send(&sv2.SetupConnectionError{Flags: sv2.FlagRequiresWorkSelection, ErrorCode: "unsupported-feature-flags"})
			return true
		}
		c.mu.Lock()
		c.setup, c.standardOnly = true, sc.Flags&sv2.FlagRequiresStandardJobs != 0
		c.mu.Unlock()
		c.send(&sv2.SetupConnectionSuccess{UsedVersion: sv2.ProtocolVersion})
		return true
	}
	c.mu.Lock()
	setup := c.setup
	c.mu.Unlock()
	if !setup {
		return false
	}
	switch m := m.(type) {
	case *sv2.OpenExtendedMiningChannel:
		if int(m.MinExtranonceSize) > p.cfg.ExtranonceSize {
			c.send(&sv2.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: "min-extranonce-size-too-large"})
			return true
		}
		c.open(m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget, false)
	case *sv2.OpenStandardMiningChannel:
		c.open(m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget, true)
	case *sv2.SubmitSharesExtended:
		c.submit(m.ChannelID, m.SequenceNumber, m.JobID, m.NTime, m.Nonce, m.Version, m.Extranonce, false)
	case *sv2.SubmitSharesStandard:
		c.submit(m.ChannelID, m.SequenceNumber, m.JobID, m.NTime, m.Nonce, m.Version, nil, true)
	case *sv2.UpdateChannel:
		c.mu.Lock()
		ch := c.chans[m.ChannelID]
		c.mu.Unlock()
		if ch == nil {
			c.send(&sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: "invalid-channel-id"})
			return true
		}
		p.rates.Store(ch.user, m.NominalHashRate)
	case *sv2.CloseChannel:
		c.mu.Lock()
		delete(c.chans, m.ChannelID)
		c.mu.Unlock()
	}
	return true
}

func targetU256(t work.Target) (u sv2.U256) {
	for i := range u {
		u[i] = t[31-i]
	}
	return u
}

func fromU256(u sv2.U256) (t work.Target) {
	for i := range t {
		t[i] = u[31-i]
	}
	return t
}

func (c *conn) open(reqID uint32, user string, hashrate float32, maxTarget sv2.U256, standard bool) {
	p := c.p
	if user == "" {
		c.send(&sv2.OpenMiningChannelError{RequestID: reqID, ErrorCode: "invalid-user-identity"})
		return
	}
	t := *p.target.Load()
	if fromU256(maxTarget).Harder(t) {
		// The client cannot take our target; give it the one it can take, as SRI does.
		t = fromU256(maxTarget)
	}
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.mu.Unlock()
	ch := &channel{id: id, user: user, standard: standard, prefix: p.nextPrefix(), size: p.cfg.ExtranonceSize,
		target: t, jobs: map[uint32]*work.Job{}, seen: map[[32]byte]struct{}{}}
	if standard {
		ch.prefix = append(ch.prefix, make([]byte, p.cfg.ExtranonceSize)...)
		ch.size = 0
		c.send(&sv2.OpenStandardMiningChannelSuccess{RequestID: reqID, ChannelID: id, Target: targetU256(t), ExtranoncePrefix: ch.prefix, GroupChannelID: group})
	} else {
		c.send(&sv2.OpenExtendedMiningChannelSuccess{RequestID: reqID, ChannelID: id, Target: targetU256(t),
			ExtranonceSize: uint16(ch.size), ExtranoncePrefix: ch.prefix, GroupChannelID: group})
	}
	p.rates.Store(user, hashrate)
	c.mu.Lock()
	c.chans[id] = ch
	c.mu.Unlock()
	c.sendJob(ch, p.template(), true)
}

// sendJobs sends every channel of the connection a job: a future one plus SetNewPrevHash on a
// new block, an immediate one otherwise.
func (c *conn) sendJobs(newBlock bool) {
	if c.p.Mode() == Stall {
		return
	}
	t := c.p.template()
	c.mu.Lock()
	chans := make([]*channel, 0, len(c.chans))
	for _, ch := range c.chans {
		chans = append(chans, ch)
	}
	c.mu.Unlock()
	for _, ch := range chans {
		c.sendJob(ch, t, newBlock)
	}
}

func (c *conn) sendJob(ch *channel, t *template.Template, future bool) {
	p := c.p
	now := uint32(time.Now().Unix())
	id := p.jobSeq.Add(1)
	var mask uint32
	if !p.cfg.NoVersionRolling {
		mask = sv2.VersionRollingMask
	}
	j := &work.Job{ID: "", PrevHash: t.Prev, Coinb1: t.Coinb1, Coinb2: t.Coinb2, Extranonce1: ch.prefix,
		Extranonce2Size: ch.size, Branch: t.Branch, Version: t.Version, NBits: t.NBits, NTime: now, VersionMask: mask}
	if j.Prepare() != nil {
		return
	}
	path := make([]sv2.U256, len(t.Branch))
	for i, b := range t.Branch {
		path[i] = b
	}
	var minNTime sv2.Option[uint32]
	if !future {
		minNTime = sv2.Some(now)
	}
	c.mu.Lock()
	if future {
		clear(ch.jobs)
		clear(ch.seen)
		ch.minNTime = now
	}
	ch.jobs[id] = j
	ch.lastJob = id
	c.mu.Unlock()
	if ch.standard {
		var h work.Hasher
		_, header, _ := h.Hash(j, &work.Header{})
		var root sv2.U256
		copy(root[:], header[36:68])
		c.send(&sv2.NewMiningJob{ChannelID: ch.id, JobID: id, MinNTime: minNTime, Version: t.Version, MerkleRoot: root})
	} else {
		prefix, suffix := t.Coinb1, t.Coinb2
		if p.cfg.Witness {
			prefix, suffix = t.WitnessHalves()
		}
		c.send(&sv2.NewExtendedMiningJob{ChannelID: ch.id, JobID: id, MinNTime: minNTime, Version: t.Version,
			VersionRollingAllowed: mask != 0, MerklePath: path, CoinbaseTxPrefix: prefix, CoinbaseTxSuffix: suffix})
	}
	if future {
		c.send(&sv2.SetNewPrevHash{ChannelID: ch.id, JobID: id, PrevHash: t.Prev, MinNTime: now, NBits: t.NBits})
	}
}

func (c *conn) setTargetAll(t work.Target) {
	c.mu.Lock()
	var ids []uint32
	for id, ch := range c.chans {
		ch.target = t
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.send(&sv2.SetTarget{ChannelID: id, MaximumTarget: targetU256(t)})
	}
}

// submit validates one share the way an SRI pool does (sv2-spec §5.3.13, sv2.md §4.5).
func (c *conn) submit(chanID, seq, jobID, ntime, nonce, version uint32, en []byte, standard bool) {
	p := c.p
	reject := func(code string) {
		p.CountRejected()
		c.send(&sv2.SubmitSharesError{ChannelID: chanID, SequenceNumber: seq, ErrorCode: code})
	}
	c.mu.Lock()
	ch := c.chans[chanID]
	var j *work.Job
	var last, tipNTime uint32
	var target work.Target
	if ch != nil {
		j, last, tipNTime, target = ch.jobs[jobID], ch.lastJob, ch.minNTime, ch.target
	}
	c.mu.Unlock()
	switch {
	case ch == nil || ch.standard != standard:
		reject("invalid-channel-id")
		return
	case j == nil && jobID != 0 && jobID <= last:
		reject("stale-share")
		return
	case j == nil:
		reject("invalid-job-id")
		return
	case !standard && len(en) != ch.size:
		reject("bad-extranonce-size")
		return
	case ntime < max(tipNTime, j.NTime) || int64(ntime) > time.Now().Unix()+7200:
		reject("invalid-share")
		return
	case version&^j.VersionMask != j.Version&^j.VersionMask:
		if j.VersionMask == 0 {
			reject("version-rolling-not-allowed")
		} else {
			reject("invalid-non-rollable-version-bit")
		}
		return
	}
	if p.Mode() == RejectAll {
		reject("difficulty-too-low")
		return
	}
	// The reader goroutine owns the channel's hasher.
	hash, _, err := ch.hasher.Hash(j, &work.Header{Extranonce2: en, NTime: ntime, Nonce: nonce, Version: version})
	if err != nil {
		reject("invalid-share")
		return
	}
	c.mu.Lock()
	_, dup := ch.seen[hash]
	ch.seen[hash] = struct{}{}
	c.mu.Unlock()
	switch {
	case dup:
		reject("duplicate-share")
		return
	case !target.Met(&hash):
		reject("difficulty-too-low")
		return
	}
	block := j.NetworkTarget().Met(&hash)
	if block {
		p.log.Info().Str("user", ch.user).Msg("block found")
	}
	p.CountAccepted(ch.user, block)
	d := target.Difficulty()
	c.send(&sv2.SubmitSharesSuccess{ChannelID: chanID, LastSequenceNumber: seq, NewSubmitsAcceptedCount: 1, NewSharesSum: uint64(d)})
}

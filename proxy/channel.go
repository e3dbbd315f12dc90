package proxy

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// offer flags.
const (
	offerNormal = 0
	offerClean  = 1 << iota // clean_jobs for this miner (new subscriber, resume, new difficulty)
	offerRetire             // and void every older job (new block, pool switch)
)

// maxJobsPerChannel bounds the jobs a miner may still submit for.
const maxJobsPerChannel = 16

// issued is a job as one channel received it: with its id and the difficulty in force then.
// Its id is pj.localID, or pj.localID + "." + resend for the same work sent again, kept as
// the number so a record is 64 bytes.
type issued struct {
	pj     *proxyJob
	diff   float64
	target work.Target
	// dups are the shares seen for this unit of work, one set shared by every record of the
	// same pj.job; nil until the work's first share (most jobs an idle miner gets see none).
	dups   map[uint64]struct{}
	mask   uint32 // the version-rolling mask the miner had for this job
	resend uint32 // 0: sent under pj.localID
}

// matches reports whether id is the job id this record was sent under.
func (is *issued) matches(id string) bool {
	lid := is.pj.localID
	if is.resend == 0 {
		return id == lid
	}
	if len(id) <= len(lid)+1 || id[:len(lid)] != lid || id[len(lid)] != '.' {
		return false
	}
	var buf [10]byte
	return string(strconv.AppendUint(buf[:0], uint64(is.resend), 10)) == id[len(lid)+1:]
}

// shareScratch is what judging a share reuses, owned by the connection's reader goroutine
// (the share path allocates nothing per share) and allocated at the channel's first share.
type shareScratch struct {
	hasher work.Hasher
	en2    []byte
}

// channel is one downstream mining channel, whatever protocol carries it: a V1 connection is
// one channel, a V2 connection may open many. It owns the miner's place in the extranonce
// space, its difficulty, the jobs it may submit for and the judgement of its shares; the
// protocol session around it only decodes, encodes and writes.
type channel struct {
	p         *Proxy
	id        uint64
	proto     string
	remote    string
	log       zerolog.Logger
	connected time.Time
	// wake tells the owning connection's writer that this channel has work to send.
	wake func()
	// bye asks the miner to reconnect when this process hands over to a new one (drain.go);
	// nil where the protocol closes its channels at Close instead.
	bye func()

	mu         sync.Mutex
	worker     string
	agent      string
	authorized bool
	hasSlot    bool
	rollingV1  bool  // the miner negotiated version rolling over V1 (set_version_mask works)
	jobNext    uint8 // see jobs; the small fields sit together so the struct fits 576 bytes
	slot       slot
	prefix     []byte
	layout     work.Layout
	mask       uint32 // version-rolling mask granted to the miner (0: none)
	askedMask  uint32 // what a V1 miner asked for in mining.configure
	// jobs is a ring of the last maxJobsPerChannel jobs issued, grown as jobs come (a miner
	// with one job holds one record); once full, jobNext is the oldest, overwritten next.
	jobs       []issued
	lastNTime  uint32
	resendSeq  uint32
	vd         vardiff
	sentDiff   float64
	sentTarget work.Target
	lastSent   *proxyJob
	lastShare  time.Time
	poolName   string

	paused atomic.Bool
	// pauseNoted: a share was already answered as paused during this pause (logged once).
	pauseNoted atomic.Bool

	offerMu    sync.Mutex
	offerJob   *proxyJob
	offerFlags int

	// scratch is owned by the connection's reader goroutine; nil until the first share.
	scratch *shareScratch

	counters minerCounters
	rate     hashMeter
}

func (p *Proxy) newChannel(proto, remote string, log zerolog.Logger, wake func()) *channel {
	c := p.newChannelBare(proto, remote, wake)
	c.log = log.With().Uint64("chan", c.id).Logger()
	return c
}

// newChannelBare is newChannel without a logger: the caller sets c.log (a V1 connection
// puts its fields on at write time instead of holding a logger context per miner).
func (p *Proxy) newChannelBare(proto, remote string, wake func()) *channel {
	now := p.clk.Now()
	c := &channel{
		p:         p,
		id:        p.nextSession.Add(1),
		proto:     proto,
		remote:    remote,
		connected: now,
		wake:      wake,
		vd:        newVardiff(p.cfg.Difficulty, p.cfg.Difficulty.Initial, now),
	}
	return c
}

// assign gives the channel its extranonce slot once the layout is known.
func (c *channel) assign(layout work.Layout, sl slot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.layout, c.slot, c.hasSlot = layout, sl, true
	c.prefix = layout.Prefix(uint64(sl.prefix))
}

func (c *channel) workerName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.worker
}

func (c *channel) isRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSent != nil
}

// start puts an assigned, authorized channel to work.
func (c *channel) start() {
	for _, pl := range c.p.poolList() {
		if u := pl.conn(c.slot.conn); u != nil {
			u.ensureWorker(c.workerName())
		}
	}
	c.p.attach(c)
}

// offer hands the channel new work. Latest wins: a job not yet written is replaced, with its
// flags kept, because a stale notify is worse than none; an older job offered late (two
// publishers racing) never replaces a newer one. wake writes it at once for a V1 miner whose
// socket takes it (writer_v1.go), or wakes the connection's writer.
func (c *channel) offer(pj *proxyJob, flags int) {
	if c.paused.Load() {
		return
	}
	c.offerMu.Lock()
	if c.offerJob == nil || pj.seq >= c.offerJob.seq {
		c.offerJob = pj
	}
	c.offerFlags |= flags
	c.offerMu.Unlock()
	c.wake()
}

// takeOffer is called by the connection's writer.
func (c *channel) takeOffer() (*proxyJob, int) {
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	pj, f := c.offerJob, c.offerFlags
	c.offerJob, c.offerFlags = nil, 0
	if c.paused.Load() {
		return nil, 0
	}
	return pj, f
}

// resend re-offers the current work with clean_jobs so a new difficulty applies now.
func (c *channel) resend() {
	c.mu.Lock()
	cur := c.lastSent
	c.mu.Unlock()
	if cur != nil {
		c.offer(cur, offerClean)
	}
}

func (c *channel) setPaused(paused bool) {
	was := c.paused.Swap(paused)
	if paused {
		if !was {
			c.pauseNoted.Store(false)
		}
		c.offerMu.Lock()
		c.offerJob, c.offerFlags = nil, 0
		c.offerMu.Unlock()
		return
	}
	c.mu.Lock()
	ok := c.hasSlot && c.authorized
	c.mu.Unlock()
	if was && ok {
		c.p.resumed(c) // resuming sends a clean job at once (split.go)
	}
}

// holds says whether pj is among the jobs c may still submit for.
func (c *channel) holds(pj *proxyJob) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.jobs {
		if c.jobs[i].pj == pj {
			return true
		}
	}
	return false
}

// tick runs once a second: a silent miner's difficulty comes down.
func (c *channel) tick(now time.Time) {
	c.mu.Lock()
	_, changed := c.vd.tick(now)
	changed = c.retargeted(changed)
	c.mu.Unlock()
	if changed {
		c.resend()
	}
}

// retargeted says whether a vardiff change moves the difficulty the miner would be sent. One
// held at the pool's difficulty is capped back to what it has (issue caps it), and re-sending
// its job clean for that made firmware drop its work at every retarget. Called under c.mu.
func (c *channel) retargeted(changed bool) bool {
	if !changed || c.lastSent == nil {
		return changed
	}
	return c.vd.capAt(c.lastSent.poolDif) != c.sentDiff
}

// issuance is what a connection writes for one job.
type issuance struct {
	id          string
	jobNum      uint32 // numeric job id for V2
	clean       bool
	diff        float64
	target      work.Target
	diffChanged bool
	reused      bool   // the same work again under a fresh id
	ntime       uint32 // for reused work: a later ntime than this channel was sent before
	mask        uint32 // version-rolling mask in force for this job
	maskChanged bool   // V1: send mining.set_version_mask before the job
}

// issue records pj as sent to this channel, with the difficulty in force, so shares for it
// are judged by that difficulty, and says what to write.
func (c *channel) issue(pj *proxyJob, flags int) (issuance, bool) {
	var members []*pool // split.go: a retiring job voids only its own pool's jobs
	if flags&offerRetire != 0 || pj.retire {
		members = c.p.split.memberPools()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Never harder than the pool: every share the pool could use reaches it.
	d := c.vd.capAt(pj.poolDif)
	var out issuance
	if c.rollingV1 {
		if m := c.askedMask & pj.job.VersionMask; m != c.mask {
			c.mask, out.maskChanged = m, true
		}
	}
	out.mask = c.mask
	if d != c.sentDiff {
		t, err := work.TargetFromDifficulty(d)
		if err != nil {
			return out, false
		}
		c.sentDiff, c.sentTarget = d, t
		out.diffChanged = true
	}
	if flags&offerRetire != 0 || pj.retire && pj != c.lastSent {
		c.retireJobs(pj, members)
	}
	out.id, out.jobNum = pj.localID, uint32(pj.seq)
	out.clean = flags&(offerClean|offerRetire) != 0 || pj.retire
	var resend uint32
	if pj == c.lastSent {
		// The same work again (new difficulty, resume): firmware ignores a repeated job id.
		c.resendSeq++
		resend = c.resendSeq
		out.id = pj.localID + "." + strconv.FormatUint(uint64(resend), 10)
		out.reused = true
		// And different work, so firmware that restarts its extranonce2 counter on a new job
		// does not redo what it already hashed.
		out.ntime = nextNTime(c.lastNTime, pj.ntime, pj.job.NTime)
	} else {
		out.ntime = pj.ntime
	}
	c.lastNTime = out.ntime
	out.diff, out.target = d, c.sentTarget
	// Duplicates are judged per unit of work, not per job id: the same work re-issued under
	// a new id must not earn the same share twice, so the record shares the work's set.
	rec := issued{pj: pj, diff: d, target: c.sentTarget, dups: c.workDups(pj.job), mask: c.mask, resend: resend}
	if len(c.jobs) < maxJobsPerChannel {
		if len(c.jobs) == cap(c.jobs) { // doubling, never past the ring's size
			grown := make([]issued, len(c.jobs), min(max(2*cap(c.jobs), 1), maxJobsPerChannel))
			copy(grown, c.jobs)
			c.jobs = grown
		}
		c.jobs = append(c.jobs, rec)
	} else {
		c.jobs[c.jobNext] = rec
		c.jobNext = (c.jobNext + 1) % maxJobsPerChannel
	}
	c.lastSent = pj
	if pl := poolOf(pj); pl != nil {
		c.poolName = pl.cfg.Name
	}
	return out, true
}

// nextNTime is the ntime for work issued again: later than prev, at least floor, and kept
// within half the ntime window above the job's own ntime so miners can still roll it.
func nextNTime(prev, floor, base uint32) uint32 {
	limit := base + work.MaxNTimeRoll/2
	n := max(prev+1, floor)
	if n > limit {
		n = prev + 1
	}
	if n > limit {
		n = prev
	}
	return n
}

// workDups is the duplicate set of the live records carrying j (nil when none has had a
// share yet). Called under c.mu.
func (c *channel) workDups(j *work.Job) map[uint64]struct{} {
	for i := range c.jobs {
		if c.jobs[i].pj.job == j && c.jobs[i].dups != nil {
			return c.jobs[i].dups
		}
	}
	return nil
}

// lookupJob returns a copy of the newest record sent under id. Called under c.mu.
func (c *channel) lookupJob(id string) (issued, bool) {
	n := len(c.jobs)
	for k := 1; k <= n; k++ {
		is := &c.jobs[(int(c.jobNext)+n-k)%n]
		if is.matches(id) {
			return *is, true
		}
	}
	return issued{}, false
}

// seen records a share's key in the duplicate set of is's work and reports whether it was
// there already. The set is made at the work's first share and given to every live record
// of that work; a record retired meanwhile gets one of its own (its next share is stale).
// Called under c.mu.
func (c *channel) seen(is *issued, key uint64) bool {
	if is.dups == nil {
		is.dups = c.workDups(is.pj.job)
	}
	if is.dups == nil {
		is.dups = make(map[uint64]struct{}, 1)
		for i := range c.jobs {
			if c.jobs[i].pj.job == is.pj.job {
				c.jobs[i].dups = is.dups
			}
		}
	}
	if _, dup := is.dups[key]; dup {
		return true
	}
	is.dups[key] = struct{}{}
	return false
}

// Reject codes shared by the protocols (V1 numbers; V2 maps them to its error strings).
const (
	codeOther         = 20
	codeStale         = 21
	codeDuplicate     = 22
	codeLowDiff       = 23
	codeUnauthorized  = 24
	codeNotSubscribed = 25
	codePaused        = sv1.CodePaused // hashgate's own: the gate is closed, the share earns nothing
)

// shareReq is one share in protocol-neutral form.
type shareReq struct {
	jobID          string
	x              []byte // the miner's extranonce2 (layout.MinerSize bytes)
	ntime, nonce   uint32
	versionBits    uint32
	hasVersionBits bool
	// fullVersion: versionBits is the complete header version (V2 shares carry it whole).
	fullVersion bool
}

// replyFunc answers one share to the miner: code 0 is accepted. It is called exactly once,
// maybe later, from another goroutine (the pool's verdict).
type replyFunc func(code int, msg string)

// submit judges one share: it is rebuilt and hashed once, rejected with a reason when bad,
// counted when it meets the miner's target and forwarded when it meets the pool's (or the
// network's) target. Called from the connection's reader goroutine only.
func (c *channel) submit(r *shareReq, reply replyFunc) {
	p := c.p
	now := p.clk.Now()
	c.mu.Lock()
	rec, found := c.lookupJob(r.jobID)
	worker, layout, prefix := c.worker, c.layout, c.prefix
	c.mu.Unlock()
	if !found || rec.pj.stale() {
		c.reject(nil, nil, ResultStale, codeStale, "Job not found (=stale)", reply)
		return
	}
	is := &rec
	if c.scratch == nil {
		c.scratch = new(shareScratch)
	}
	scr := c.scratch
	j := is.pj.job
	pl := poolOf(is.pj)
	mask := is.mask
	if len(r.x) != layout.MinerSize {
		c.reject(is, pl, ResultInvalid, codeOther, fmt.Sprintf("Invalid extranonce2 size: want %d bytes", layout.MinerSize), reply)
		return
	}
	if err := j.CheckNTime(r.ntime); err != nil {
		c.reject(is, pl, ResultInvalid, codeOther, "Ntime out of range", reply)
		return
	}
	version := j.Version
	if r.hasVersionBits {
		bits := r.versionBits
		if r.fullVersion {
			bits &= mask & j.VersionMask
			if r.versionBits&^(mask&j.VersionMask) != j.Version&^(mask&j.VersionMask) {
				c.reject(is, pl, ResultInvalid, codeOther, "Invalid version bits", reply)
				return
			}
		}
		v, err := work.MergeVersion(j.Version, bits, mask&j.VersionMask)
		if err != nil {
			c.reject(is, pl, ResultInvalid, codeOther, "Invalid version bits", reply)
			return
		}
		version = v
	}
	var err error
	scr.en2, err = layout.UpstreamExtranonce2(scr.en2[:0], prefix, r.x, j.Extranonce2Size)
	if err != nil {
		c.reject(is, pl, ResultInvalid, codeOther, "Invalid extranonce2", reply)
		return
	}
	hash, _, err := scr.hasher.Hash(j, &work.Header{Extranonce2: scr.en2, NTime: r.ntime, Nonce: r.nonce, Version: version})
	if err != nil {
		c.reject(is, pl, ResultInvalid, codeOther, err.Error(), reply)
		return
	}
	key := binary.LittleEndian.Uint64(hash[:8])
	c.mu.Lock()
	dup := c.seen(is, key)
	c.mu.Unlock()
	if dup {
		c.reject(is, pl, ResultDuplicate, codeDuplicate, "Duplicate share", reply)
		return
	}
	if !is.target.Met(&hash) {
		c.reject(is, pl, ResultLowDiff, codeLowDiff, "Low difficulty share", reply)
		return
	}
	// A valid share under the miner's target. The miner did hash it, paused or not: its own
	// hashrate, last share and difficulty follow what it sends.
	shareDiff := work.HashDifficultyFast(&hash)
	c.rate.add(now, is.diff)
	c.mu.Lock()
	c.lastShare = now
	_, changed := c.vd.share(now)
	changed = c.retargeted(changed)
	c.mu.Unlock()
	if changed {
		c.resend()
	}
	block := j.NetworkTarget().Met(&hash)
	// The gate is closed (power policy or operator), whatever job the share is for: the work
	// earns nothing, and the miner is told so rather than told it was accepted. A block
	// candidate is forwarded even for a paused miner: pausing is about power, and the block is
	// worth more than any policy.
	if !block && c.paused.Load() {
		c.rejectPaused(is, pl, worker, now, shareDiff, reply)
		return
	}
	ev := ShareEvent{Time: now, Worker: worker, Pool: pl.cfg.Name, JobID: j.ID, Difficulty: is.diff, ShareDiff: shareDiff, Result: ResultAccepted, Hash: hash}
	p.record(c, pl, ev)
	p.rate.add(now, is.diff)
	pl.rate.add(now, is.diff)
	if p.split.running() {
		p.split.mined(c, pl) // the split steers each miner by the shares it mined per pool
	}
	if block {
		ev.Result = ResultBlock
		p.record(c, pl, ev)
		disp := work.ReverseHash(hash)
		c.log.Warn().Str("hash", hex.EncodeToString(disp[:])).Float64("share_difficulty", shareDiff).
			Str("pool", pl.cfg.Name).Msg("BLOCK CANDIDATE found; forwarding to the pool now")
	}
	poolMet := j.Target.Met(&hash)
	if !block && !poolMet {
		reply(0, "")
		return
	}
	if !is.pj.up.up() {
		ev.Result, ev.Reason = ResultNotForwarded, "pool down"
		p.record(c, pl, ev)
		pl.lost(1, "pool down")
		reply(0, "")
		return
	}
	ev.Result = ResultForwarded
	p.record(c, pl, ev)
	var answered atomic.Bool
	if !poolMet {
		// A block candidate that misses the pool's share target (a test network easier than
		// the pool) is judged on the miner's own target, which it met: the pool's verdict on
		// it is recorded and logged, not passed to the miner.
		answered.Store(true)
		reply(0, "")
	}
	timer := p.clk.AfterFunc(p.cfg.VerdictWait.D(), func() {
		// The pool is slow: answer from local validation; the verdict is recorded when it comes.
		if answered.CompareAndSwap(false, true) {
			reply(0, "")
		}
	})
	share := &upShare{
		worker:      worker,
		jobID:       j.ID,
		extranonce2: append([]byte(nil), scr.en2...),
		ntime:       r.ntime,
		nonce:       r.nonce,
		version:     version,
		jobVersion:  j.Version,
		belowPool:   !poolMet,
	}
	if r.hasVersionBits || version != j.Version {
		share.mask = j.VersionMask
	}
	// The verdict's own copies: captured, they live on the heap, and only forwarded shares
	// pay for that, not every share.
	fwdEv, fwdHash, fwdJob := ev, hash, is.pj
	is.pj.up.submit(share, func(v verdict) {
		timer.Stop()
		e := fwdEv
		e.Time = p.clk.Now()
		switch {
		case !v.known:
			e.Result, e.Reason = ResultPoolUnknown, v.message
		case v.accepted:
			e.Result = ResultPoolAccepted
			e.ExpectedSats = p.expectedSats(fwdJob, pl, e.Difficulty)
		default:
			e.Result, e.Reason = ResultPoolRejected, v.message
		}
		p.record(c, pl, e)
		if block {
			c.candidateVerdict(pl, fwdHash, !poolMet, v)
		}
		if !answered.CompareAndSwap(false, true) {
			return
		}
		if v.known && !v.accepted {
			code := v.code
			if code < codeOther || code > codeNotSubscribed {
				code = codeOther
			}
			reply(code, "Rejected by pool: "+v.message)
			return
		}
		reply(0, "")
	})
}

func (c *channel) reject(is *issued, pl *pool, r Result, code int, msg string, reply replyFunc) {
	ev := ShareEvent{Time: c.p.clk.Now(), Worker: c.workerName(), Result: r, Reason: msg}
	if is != nil {
		ev.JobID, ev.Difficulty = is.pj.job.ID, is.diff
	}
	if pl != nil {
		ev.Pool = pl.cfg.Name
	}
	c.p.record(c, pl, ev)
	reply(code, msg)
}

// rejectPaused answers a paused miner's valid share: not forwarded, counted as paused. The
// first one of each pause is logged; the rest only counted, since the miner sets the pace.
func (c *channel) rejectPaused(is *issued, pl *pool, worker string, now time.Time, shareDiff float64, reply replyFunc) {
	msg := sv1.ErrPaused.Message
	c.p.record(c, pl, ShareEvent{Time: now, Worker: worker, Pool: pl.cfg.Name, JobID: is.pj.job.ID,
		Difficulty: is.diff, ShareDiff: shareDiff, Result: ResultPaused, Reason: msg})
	if c.pauseNoted.CompareAndSwap(false, true) {
		c.log.Info().
			Msg("paused miner still hashing: its shares are answered as rejected and not forwarded (only firmware sleep or a power target cuts its power)")
	}
	reply(codePaused, msg)
}

func poolOf(pj *proxyJob) *pool {
	if pj.pool != nil {
		return pj.pool
	}
	return nil
}

func (c *channel) stats(now time.Time) WorkerStats {
	c.mu.Lock()
	st := WorkerStats{
		ID:          c.id,
		Worker:      c.worker,
		Remote:      c.remote,
		UserAgent:   c.agent,
		Protocol:    c.proto,
		Pool:        c.poolName,
		Difficulty:  c.sentDiff,
		Extranonce1: hex.EncodeToString(c.prefix),
		Connected:   c.connected,
		LastShare:   c.lastShare,
	}
	running := c.lastSent != nil
	c.mu.Unlock()
	switch {
	case c.paused.Load():
		st.State = "paused"
	case running:
		st.State = "running"
	default:
		st.State = "connecting"
	}
	r := c.rate.rates(now, st.Connected)
	st.Hashrate5m, st.Hashrate1h, st.Hashrate24h = r.H5m, r.H1h, r.H24h
	if st.State != "paused" {
		st.Hashrate = r.H5m
	}
	st.Shares = c.counters.Map()
	return st
}

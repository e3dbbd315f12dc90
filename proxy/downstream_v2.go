package proxy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// v2Chan is one SV2 mining channel on a connection: the protocol-neutral channel that judges
// its shares, plus what SV2 adds (channel and job ids, the target last told, the chain tip).
type v2Chan struct {
	id       uint32
	ch       *channel
	standard bool
	x        []byte // standard channels: the extranonce the proxy rolls for them (zeros)

	mu        sync.Mutex
	maxTarget work.Target // the easiest target the device accepts
	// jobs is a ring of the issuance ids of the last maxJobIDs job ids: job id n (from 1) at
	// (n-1) % maxJobIDs. It grows to that size as jobs are sent.
	jobs    []string
	nextJob uint32

	// worker is the user_identity the channel opened with, for its log lines.
	worker string

	// under the connection's outMu (whoever writes)
	lastTarget sv2.U256
	hasPrev    bool
	lastPrev   [32]byte
	scratch    []byte

	// reader-only
	tokens   float64
	tokensAt time.Time

	// under the connection's outMu: the highest sequence number acknowledged so far, so a
	// late pool verdict never makes last_sequence_number go backwards
	ackHW  uint32
	ackSet bool
}

// maxJobIDs bounds the job ids a channel remembers for its shares.
const maxJobIDs = 2 * maxJobsPerChannel

// newJobID numbers a new issuance on this channel. Ids are unique per channel and never
// reused while the channel lives (sv2-spec §5.3.10), so a re-sent job never aliases an old one.
func (vc *v2Chan) newJobID(issued string) uint32 {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	vc.nextJob++
	id := vc.nextJob
	if i := int((id - 1) % maxJobIDs); i < len(vc.jobs) {
		vc.jobs[i] = issued
	} else {
		vc.jobs = append(vc.jobs, issued)
	}
	return id
}

// lookupJob returns the issuance id of a job id, and whether the id was ever issued (an id
// too old to be remembered returns "" and true).
func (vc *v2Chan) lookupJob(id uint32) (string, bool) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if id == 0 || id > vc.nextJob {
		return "", false
	}
	if vc.nextJob-id >= maxJobIDs {
		return "", true
	}
	return vc.jobs[(id-1)%maxJobIDs], true
}

// v2ChanLogFields puts a channel's connection, worker and ids on each of its log lines as the
// line is written: the channel keeps no logger context of its own.
type v2ChanLogFields struct{ vc *v2Chan }

func (h v2ChanLogFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	vc := h.vc
	e.Str("remote", vc.ch.remote).Str("proto", "sv2").Uint64("chan", vc.ch.id).Str("worker", vc.worker).Uint32("channel", vc.id)
}

var (
	errNoSetup      = errors.New("message before SetupConnection")
	errSecondSetup  = errors.New("second SetupConnection")
	errSetupRefused = errors.New("SetupConnection refused")
)

// supportedFlags are the Mining SetupConnection flags hashgate serves.
const supportedFlags = sv2.FlagRequiresStandardJobs | sv2.FlagRequiresVersionRolling

func (s *v2Conn) handle(ctx context.Context, m sv2.Message) error {
	if sc, ok := m.(*sv2.SetupConnection); ok {
		return s.handleSetup(sc)
	}
	if !s.setupDone {
		return errNoSetup
	}
	switch m := m.(type) {
	case *sv2.OpenStandardMiningChannel:
		return s.open(ctx, m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget, 0, true)
	case *sv2.OpenExtendedMiningChannel:
		return s.open(ctx, m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget, int(m.MinExtranonceSize), false)
	case *sv2.SubmitSharesStandard:
		return s.submit(m.ChannelID, m.SequenceNumber, m.JobID, m.NTime, m.Nonce, m.Version, nil, true)
	case *sv2.SubmitSharesExtended:
		return s.submit(m.ChannelID, m.SequenceNumber, m.JobID, m.NTime, m.Nonce, m.Version, m.Extranonce, false)
	case *sv2.UpdateChannel:
		s.update(m)
	case *sv2.CloseChannel:
		s.closeChannel(m.ChannelID)
	case *sv2.Unknown:
		// Unknown frames end here: hashgate aggregates, so no upstream channel owns them.
		s.logger().Debug().Uint16("ext", m.Header.Extension()).Uint8("type", uint8(m.Header.MsgType)).Msg("unknown frame from miner dropped")
	default:
		s.logger().Info().Str("msg", sv2.MessageName(m.ExtensionType(), m.MsgType())).Msg("unexpected message from miner ignored")
	}
	return nil
}

func (s *v2Conn) handleSetup(m *sv2.SetupConnection) error {
	if s.setupDone {
		return errSecondSetup
	}
	refuse := func(flags uint32, code string) error {
		s.sendAndClose(&sv2.SetupConnectionError{Flags: flags, ErrorCode: code})
		return fmt.Errorf("%w: %s", errSetupRefused, code)
	}
	switch {
	case m.Protocol != sv2.ProtocolMining:
		return refuse(0, "unsupported-protocol")
	case m.MinVersion > sv2.ProtocolVersion || m.MaxVersion < sv2.ProtocolVersion:
		return refuse(0, "protocol-version-mismatch")
	case m.Flags&^supportedFlags != 0:
		return refuse(m.Flags&^supportedFlags, "unsupported-feature-flags")
	case m.Flags&sv2.FlagRequiresVersionRolling != 0 && s.p.poolVersionMask() == 0:
		return refuse(sv2.FlagRequiresVersionRolling, "unsupported-feature-flags")
	}
	s.setupDone, s.flags = true, m.Flags
	s.agent = m.Vendor
	if m.Firmware != "" {
		s.agent += "/" + m.Firmware
	}
	// hashgate never fixes the version and serves standard channels: no server flags.
	s.send(&sv2.SetupConnectionSuccess{UsedVersion: sv2.ProtocolVersion, Flags: 0})
	return nil
}

// open handles OpenStandardMiningChannel and OpenExtendedMiningChannel (sv2-spec §5.3.2-5):
// the channel gets a slot in the extranonce space like a V1 miner, Success, then the current
// work as a future job and SetNewPrevHash (written by the writer when the offer arrives).
func (s *v2Conn) open(ctx context.Context, reqID uint32, user string, hashrate float32, maxTarget sv2.U256, minExtranonce int, standard bool) error {
	p := s.p
	fail := func(code string) error {
		s.send(&sv2.OpenMiningChannelError{RequestID: reqID, ErrorCode: code})
		return nil
	}
	h := float64(hashrate)
	maxT := targetFromU256(maxTarget)
	if err := checkWorkerName(user); err != nil {
		// Refused before it reaches a pool, a log line or the console.
		if !s.nameLogged {
			s.nameLogged = true
			s.logger().Info().Str("name", loggableName(user)).Int("bytes", len(user)).Err(err).Msg("user_identity refused")
		}
		return fail("invalid-user-identity")
	}
	switch {
	case math.IsNaN(h) || math.IsInf(h, 0) || h < 0:
		return fail("invalid-nominal-hashrate")
	case maxT == work.Target{}:
		return fail("max-target-out-of-range")
	case !standard && s.flags&sv2.FlagRequiresStandardJobs != 0:
		return fail("extended-channels-not-supported-for-standard-jobs")
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	layout, err := p.waitLayout(wctx)
	cancel()
	if err != nil {
		return fail("no-pool-available")
	}
	if minExtranonce > layout.MinerSize {
		return fail("min-extranonce-size-too-large")
	}
	sl, err := p.alloc.get()
	if err != nil {
		return fail("proxy-full")
	}
	now := p.clk.Now()
	c := p.newChannelBare("sv2", s.remote, s.signal)
	c.log = *s.logger()
	c.assign(layout, sl)
	c.mu.Lock()
	c.worker, c.agent, c.authorized = user, s.agent, true
	c.mask = sv2.VersionRollingMask
	if d := maxT.Difficulty(); d > c.vd.cfg.Min {
		c.vd.cfg.Min = d
	}
	if hd := hashrateDifficulty(h, p.cfg.Difficulty.SharesPerMinute); hd > 0 {
		c.vd.suggest(hd, now) // the device says how fast it is: start near its rate
	} else {
		c.vd.suggest(c.vd.diff, now)
	}
	d := c.vd.diff
	prefix := c.prefix
	c.mu.Unlock()
	t, err := work.TargetFromDifficulty(d)
	if err != nil {
		p.alloc.put(sl)
		return fail("max-target-out-of-range")
	}
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	s.mu.Unlock()
	vc := &v2Chan{id: id, ch: c, standard: standard, maxTarget: maxT, worker: user,
		tokens: 2 * p.cfg.SubmitRate, tokensAt: now}
	vc.lastTarget = u256FromTarget(harder(t, maxT))
	c.log = p.log.Hook(v2ChanLogFields{vc})
	if standard {
		vc.x = make([]byte, layout.MinerSize)
		full := append(append([]byte(nil), prefix...), vc.x...)
		s.send(&sv2.OpenStandardMiningChannelSuccess{RequestID: reqID, ChannelID: id, Target: vc.lastTarget,
			ExtranoncePrefix: full, GroupChannelID: v2Group})
	} else {
		s.send(&sv2.OpenExtendedMiningChannelSuccess{RequestID: reqID, ChannelID: id, Target: vc.lastTarget,
			ExtranonceSize: uint16(layout.MinerSize), ExtranoncePrefix: prefix, GroupChannelID: v2Group})
	}
	s.mu.Lock()
	s.chans = append(s.chans, vc)
	s.mu.Unlock()
	p.addChannel(c)
	p.bindWorker(c, user)
	c.log.Info().Str("agent", s.agent).Bool("standard", standard).Msg("miner opened a channel")
	if s.setup != nil {
		// Mining: setup_timeout has nothing left to check, and the timer is let go.
		s.setup.Stop()
		s.setup = nil
	}
	c.start()
	return nil
}

// harder returns the harder (smaller) of two targets.
func harder(a, b work.Target) work.Target {
	if b.Harder(a) {
		return b
	}
	return a
}

func (s *v2Conn) channelByID(id uint32) *v2Chan {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, vc := range s.chans {
		if vc.id == id {
			return vc
		}
	}
	return nil
}

// allowSubmit is a per-channel token bucket: SubmitRate per second, bursts of twice that.
func (vc *v2Chan) allowSubmit(now time.Time, rate float64) bool {
	vc.tokens = min(vc.tokens+now.Sub(vc.tokensAt).Seconds()*rate, 2*rate)
	vc.tokensAt = now
	if vc.tokens < 1 {
		return false
	}
	vc.tokens--
	return true
}

// v2ErrPaused is the SubmitShares.Error code for a share of a paused miner (gate closed by
// the site power policy or the operator): valid work, not forwarded, earning nothing. It is
// not among the codes sv2-spec §5.3.14 lists; devices report the code string they receive.
const v2ErrPaused = "miner-paused"

// v2SubmitError maps a channel's reject code to SubmitShares.Error's error_code.
func v2SubmitError(code int) string {
	if code == codePaused {
		return v2ErrPaused
	}
	return v2ErrorCode(code)
}

// submit judges a SubmitSharesStandard/Extended through the channel's common share path. The
// version is the whole header version (SV2 carries it so); standard channels submit no
// extranonce, the proxy supplies the fixed one it built their merkle root with.
func (s *v2Conn) submit(chanID, seq, jobID, ntime, nonce, version uint32, en []byte, standard bool) error {
	p := s.p
	vc := s.channelByID(chanID)
	if vc == nil {
		s.send(&sv2.SubmitSharesError{ChannelID: chanID, SequenceNumber: seq, ErrorCode: "invalid-channel-id"})
		return nil
	}
	c := vc.ch
	if !vc.allowSubmit(p.clk.Now(), p.cfg.SubmitRate) {
		p.drops.floodedMiner.Add(1)
		s.send(&sv2.SubmitSharesError{ChannelID: chanID, SequenceNumber: seq, ErrorCode: "too-many-shares"})
		if s.strikes++; s.strikes > int(p.cfg.SubmitRate)*10 {
			return errFlood
		}
		return nil
	}
	var diff float64 // the difficulty the share's job was issued at, set once the job is known
	reply := func(code int, _ string) {
		if code == 0 {
			s.accepted(vc, seq, diff)
			return
		}
		s.send(&sv2.SubmitSharesError{ChannelID: chanID, SequenceNumber: seq, ErrorCode: v2SubmitError(code)})
	}
	if standard != vc.standard {
		c.reject(nil, nil, ResultInvalid, codeOther, "share type does not match the channel", reply)
		return nil
	}
	issued, known := vc.lookupJob(jobID)
	if !known {
		c.reject(nil, nil, ResultInvalid, codeOther, "unknown job id", func(int, string) {
			s.send(&sv2.SubmitSharesError{ChannelID: chanID, SequenceNumber: seq, ErrorCode: "invalid-job-id"})
		})
		return nil
	}
	diff = c.issuedDiff(issued)
	x := vc.x
	if !standard {
		c.mu.Lock()
		want := c.layout.MinerSize
		c.mu.Unlock()
		if len(en) != want {
			c.reject(nil, nil, ResultInvalid, codeOther, "bad extranonce size", func(int, string) {
				s.send(&sv2.SubmitSharesError{ChannelID: chanID, SequenceNumber: seq, ErrorCode: "bad-extranonce-size"})
			})
			return nil
		}
		x = en
	}
	c.submit(&shareReq{jobID: issued, x: x, ntime: ntime, nonce: nonce, versionBits: version, hasVersionBits: true, fullVersion: true}, reply)
	return nil
}

// issuedDiff is the difficulty the job with local id was issued at: SubmitShares.Success's
// new_shares_sum adds up accepted shares at the difficulty they were mined for (sv2.md), not
// at one a retarget set since. A job no longer held gets the current one; its share is
// answered stale anyway.
func (c *channel) issuedDiff(id string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rec, ok := c.lookupJob(id); ok {
		return rec.diff
	}
	return c.sentDiff
}

// update applies UpdateChannel: the nominal hashrate is a vardiff hint, and a lower
// maximum_target must lower the channel's target at once (sv2-spec §5.3.6).
func (s *v2Conn) update(m *sv2.UpdateChannel) {
	vc := s.channelByID(m.ChannelID)
	if vc == nil {
		s.send(&sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: "invalid-channel-id"})
		return
	}
	h := float64(m.NominalHashRate)
	if math.IsNaN(h) || math.IsInf(h, 0) || h < 0 {
		s.send(&sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: "invalid-nominal-hashrate"})
		return
	}
	maxT := targetFromU256(m.MaximumTarget)
	if maxT == (work.Target{}) {
		s.send(&sv2.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: "max-target-out-of-range"})
		return
	}
	vc.mu.Lock()
	vc.maxTarget = maxT
	vc.mu.Unlock()
	c := vc.ch
	now := s.p.clk.Now()
	c.mu.Lock()
	old := c.vd.diff
	c.vd.cfg.Min = max(s.p.cfg.Difficulty.Min, maxT.Difficulty())
	if d := hashrateDifficulty(h, s.p.cfg.Difficulty.SharesPerMinute); d > 0 {
		c.vd.suggest(d, now)
	} else {
		c.vd.suggest(c.vd.diff, now)
	}
	changed := c.vd.diff != old || maxT.Harder(c.sentTarget)
	c.mu.Unlock()
	if changed {
		c.resend()
	}
}

// closeChannel handles CloseChannel; the group id closes every channel (sv2-spec §5.2).
func (s *v2Conn) closeChannel(id uint32) {
	s.mu.Lock()
	var gone []*v2Chan
	if id == v2Group {
		gone, s.chans = s.chans, nil
	} else {
		for i, vc := range s.chans {
			if vc.id == id {
				gone = append(gone, vc)
				s.chans = append(s.chans[:i], s.chans[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		s.logger().Debug().Uint32("channel", id).Msg("CloseChannel for an unknown channel")
	}
	for _, vc := range gone {
		s.p.removeChannel(vc.ch)
		vc.ch.log.Info().Msg("miner closed the channel")
	}
}

// appendJob writes one job to a channel (under the connection's outMu): SetTarget when the target changed,
// then NewMiningJob (standard) or NewExtendedMiningJob, as a future job followed by
// SetNewPrevHash when the chain tip moved or older jobs are void, else as an immediate job.
func (s *v2Conn) appendJob(buf []byte, vc *v2Chan, pj *proxyJob, flags int) []byte {
	is, ok := vc.ch.issue(pj, flags)
	if !ok {
		return buf
	}
	j := pj.job
	vc.mu.Lock()
	t := u256FromTarget(harder(is.target, vc.maxTarget))
	vc.mu.Unlock()
	var err error
	if t != vc.lastTarget {
		vc.lastTarget = t
		if buf, err = sv2.AppendFrame(buf, &sv2.SetTarget{ChannelID: vc.id, MaximumTarget: t}); err != nil {
			s.logger().Error().Err(err).Msg("encoding SetTarget")
		}
	}
	id := vc.newJobID(is.id)
	// The same condition under which issue voided the channel's older jobs: the miner must
	// drop them too, which only SetNewPrevHash says in SV2.
	retire := flags&offerRetire != 0 || pj.retire && !is.reused
	future := !vc.hasPrev || vc.lastPrev != j.PrevHash || retire
	if vc.standard {
		c := vc.ch
		c.mu.Lock()
		prefix := c.prefix
		c.mu.Unlock()
		var root [32]byte
		root, vc.scratch = standardRoot(pj, prefix, vc.x, vc.scratch)
		nm := sv2.NewMiningJob{ChannelID: vc.id, JobID: id, Version: j.Version, MerkleRoot: root}
		if !future {
			nm.MinNTime = sv2.Some(is.ntime)
		}
		buf, err = sv2.AppendFrame(buf, &nm)
	} else {
		nj := extendedJobFor(pj, vc.id, id, vc.ch.mask, is.ntime, future)
		buf, err = sv2.AppendFrame(buf, &nj)
	}
	if err != nil {
		s.logger().Error().Err(err).Msg("encoding a job")
		return buf
	}
	if future {
		// The issued ntime, as V1 miners get it: later than before for work given again.
		vc.hasPrev, vc.lastPrev = true, j.PrevHash
		buf, _ = sv2.AppendFrame(buf, &sv2.SetNewPrevHash{ChannelID: vc.id, JobID: id, PrevHash: j.PrevHash, MinNTime: is.ntime, NBits: j.NBits})
	}
	return buf
}

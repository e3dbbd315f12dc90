package loadfleet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv2"
	"github.com/hashgate/hashgate/stratum/work"
)

// v2RejectNames label counters.rejectedV2: the SubmitShares.Error codes of sv2-spec §5.3.14
// and hashgate's "too-many-shares"; the last slot counts any other code.
var v2RejectNames = [...]string{
	"stale-share", "duplicate-share", "difficulty-too-low", "invalid-job-id", "invalid-share",
	"too-many-shares", "invalid-channel-id", "bad-extranonce-size", "other",
}

func (c *counters) rejectV2(code string) {
	last := len(v2RejectNames) - 1
	for i, n := range v2RejectNames[:last] {
		if n == code {
			c.rejectedV2[i].Add(1)
			return
		}
	}
	c.rejectedV2[last].Add(1)
}

// v2MaxFutures bounds the future jobs a V2 miner holds while it waits for their
// SetNewPrevHash; a server that sends more loses its oldest.
const v2MaxFutures = 8

// Errors that end a V2 miner's connection.
var (
	errSetupRefused = errors.New("loadfleet: SetupConnection or channel refused")
	errServerClosed = errors.New("loadfleet: server closed the channel or asked to reconnect")
)

// v2Tip is the chain tip the last SetNewPrevHash announced.
type v2Tip struct {
	prev     [32]byte
	minNTime uint32
	nbits    uint32
}

// v2Job is the work a V2 miner submits on: an extended job rebuilt under the channel's
// extranonce_prefix (job set), or a standard job's header (job nil).
type v2Job struct {
	id       uint32
	job      *work.Job
	version  uint32
	ntime    uint32
	target   work.Target
	header   [80]byte // the current extranonce's header (extended) or the job's (standard)
	headerOK bool
}

// sentShare is a submit awaiting its verdict.
type sentShare struct {
	seq uint32
	at  int64 // fleet nanos when written
	fwd bool  // meets the tracked (pool) target: its verdict may wait for the pool
}

// v2Miner is one Stratum V2 connection with one channel. As for V1, the reader goroutine
// owns the read side and the job; the pacer owns submits; they meet under mu.
//
// SV2 replies carry no request id that could hold a send time, and hashgate acknowledges
// accepted shares in batches (one SubmitShares.Success for several), so each miner keeps its
// unanswered submits (at most MaxInflight) with their send times and settles them as verdicts
// arrive; see settleSuccess for how a batch is attributed.
type v2Miner struct {
	minerBase
	nc *noise.Conn

	// reader-only
	futures []sv2.Message
	lastAck uint32 // last_sequence_number of the latest Success
	acked   bool
	success sv2.SubmitSharesSuccess
	serr    sv2.SubmitSharesError

	mu      sync.Mutex
	chanID  uint32
	prefix  []byte // extranonce_prefix (standard: the whole extranonce)
	size    int    // extranonce bytes the miner rolls (standard: 0)
	target  work.Target
	tip     v2Tip
	hasTip  bool
	job     *v2Job
	pending []sentShare // in send order
	// guessed holds the shares a Success batch settled by guess (newest last, at most
	// MaxInflight): when one of them later gets its own SubmitShares.Error, the guess was
	// wrong, and the share the batch did acknowledge is still pending.
	guessed  []sentShare
	seq      uint32
	x, nonce uint64 // as loadMiner's: extranonce counter, next nonce carrying into it
	en       []byte
	hasher   work.Hasher
	line     []byte
	ext      sv2.SubmitSharesExtended
	std      sv2.SubmitSharesStandard
}

// handshake runs the Noise NX handshake pinned to the fleet's authority key, then sends
// SetupConnection; the channel is opened when SetupConnection.Success arrives.
func (m *v2Miner) handshake(ctx context.Context) error {
	f := m.f
	raw := m.conn
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	t0 := f.now()
	nc, err := noise.Client(raw, f.cfg.Authority, f.noiseCfg)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("noise: %w", err)
	}
	f.handshakes.Record(time.Duration(f.now() - t0))
	f.stats.noiseHandshakes.Add(1)
	m.nc, m.conn = nc, nc
	var flags uint32
	if f.cfg.V2Standard {
		flags |= sv2.FlagRequiresStandardJobs
	}
	nc.SetWriteDeadline(time.Now().Add(f.cfg.DialTimeout))
	defer nc.SetWriteDeadline(time.Time{})
	return m.write(&sv2.SetupConnection{
		Protocol: sv2.ProtocolMining, MinVersion: sv2.ProtocolVersion, MaxVersion: sv2.ProtocolVersion, Flags: flags,
		Vendor: "hashgate-loadfleet", HardwareVersion: "load", Firmware: "loadfleet/1.0", DeviceID: m.name,
	})
}

func (m *v2Miner) write(msg sv2.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := sv2.AppendFrame(m.line[:0], msg)
	if err != nil {
		return err
	}
	m.line = b
	_, err = m.nc.Write(b)
	return err
}

func (m *v2Miner) readLoop() {
	f := m.f
	for {
		hdr, payload, err := m.nc.ReadFrame()
		if err != nil {
			if !m.dead.Swap(true) && !f.closing.Load() && !errors.Is(err, net.ErrClosed) {
				f.stats.disconnects.Add(1)
				if !errors.Is(err, io.EOF) {
					f.log.Debug().Err(err).Str("worker", m.name).Msg("read failed")
				}
			}
			return
		}
		now := f.now()
		h, err := sv2.ParseHeader(hdr[:])
		if err == nil {
			err = m.handle(h, payload, now)
		}
		if err != nil {
			if !errors.Is(err, errSetupRefused) && !errors.Is(err, errServerClosed) {
				f.stats.malformed.Add(1)
			}
			f.log.Debug().Err(err).Str("worker", m.name).Msg("closing")
			m.lost()
			m.nc.Close()
			return
		}
	}
}

// handle processes one frame. The share verdicts, the bulk of the traffic, are decoded into
// the miner's own messages; the rest through the codec's registry.
func (m *v2Miner) handle(h sv2.Header, payload []byte, now int64) error {
	f := m.f
	if h.Extension() != sv2.ExtensionCore {
		return nil // an extension nobody negotiated: ignored, as the spec asks
	}
	switch h.MsgType {
	case sv2.MsgTypeSubmitSharesSuccess:
		if err := m.success.Decode(payload); err != nil {
			return err
		}
		m.settleSuccess(&m.success, now)
		return nil
	case sv2.MsgTypeSubmitSharesError:
		if err := m.serr.Decode(payload); err != nil {
			return err
		}
		m.settleError(&m.serr, now)
		return nil
	}
	msg, err := sv2.DecodeMessage(h, payload)
	if err != nil {
		return err
	}
	switch msg := msg.(type) {
	case *sv2.SetupConnectionSuccess:
		return m.openChannel()
	case *sv2.SetupConnectionError:
		f.stats.setupFails.Add(1)
		return fmt.Errorf("%w: %s", errSetupRefused, msg.ErrorCode)
	case *sv2.OpenMiningChannelError:
		f.stats.setupFails.Add(1)
		return fmt.Errorf("%w: %s", errSetupRefused, msg.ErrorCode)
	case *sv2.OpenExtendedMiningChannelSuccess:
		m.opened(msg.ChannelID, msg.Target, msg.ExtranoncePrefix, int(msg.ExtranonceSize))
	case *sv2.OpenStandardMiningChannelSuccess:
		m.opened(msg.ChannelID, msg.Target, msg.ExtranoncePrefix, 0)
	case *sv2.NewExtendedMiningJob:
		m.onJob(msg, msg.MinNTime)
	case *sv2.NewMiningJob:
		m.onJob(msg, msg.MinNTime)
	case *sv2.SetNewPrevHash:
		m.onPrevHash(msg, now)
	case *sv2.SetTarget:
		t := targetFromU256(msg.MaximumTarget)
		m.mu.Lock()
		m.target = t
		if m.job != nil && t.Harder(m.job.target) {
			m.job.target = t // a harder target applies at once; an easier one with the next job
		}
		m.mu.Unlock()
	case *sv2.CloseChannel, *sv2.Reconnect:
		return errServerClosed
	}
	return nil
}

// openChannel asks for the fleet's kind of channel, accepting any target the server sets.
func (m *v2Miner) openChannel() error {
	var all sv2.U256
	for i := range all {
		all[i] = 0xff
	}
	if m.f.cfg.V2Standard {
		return m.write(&sv2.OpenStandardMiningChannel{RequestID: 1, UserIdentity: m.name, MaxTarget: all})
	}
	return m.write(&sv2.OpenExtendedMiningChannel{RequestID: 1, UserIdentity: m.name, MaxTarget: all})
}

func (m *v2Miner) opened(id uint32, target sv2.U256, prefix []byte, size int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chanID, m.target = id, targetFromU256(target)
	m.prefix, m.size = append([]byte(nil), prefix...), size
	m.en = make([]byte, size)
	m.ext.Extranonce = m.en
}

// onJob activates an immediate job on the current tip or keeps a future one for its
// SetNewPrevHash.
func (m *v2Miner) onJob(msg sv2.Message, minNTime sv2.Option[uint32]) {
	if minNTime.Valid {
		m.activate(msg, minNTime.Value)
		return
	}
	if len(m.futures) == v2MaxFutures {
		m.futures = append(m.futures[:0], m.futures[1:]...)
	}
	m.futures = append(m.futures, msg)
}

// onPrevHash moves the tip and activates the future job it names. A changed prevhash is a
// new block: the moment the fleet's block timing measures.
func (m *v2Miner) onPrevHash(msg *sv2.SetNewPrevHash, now int64) {
	m.mu.Lock()
	newBlock := !m.hasTip || m.tip.prev != msg.PrevHash
	m.tip, m.hasTip = v2Tip{prev: msg.PrevHash, minNTime: msg.MinNTime, nbits: msg.NBits}, true
	m.mu.Unlock()
	var fut sv2.Message
	for _, j := range m.futures {
		if jobID(j) == msg.JobID {
			fut = j
		}
	}
	clear(m.futures)
	m.futures = m.futures[:0]
	if fut != nil {
		m.activate(fut, 0)
	}
	if newBlock {
		m.markBlock(now)
	}
}

func jobID(msg sv2.Message) uint32 {
	switch msg := msg.(type) {
	case *sv2.NewExtendedMiningJob:
		return msg.JobID
	case *sv2.NewMiningJob:
		return msg.JobID
	}
	return 0
}

// activate makes msg the job submitted on, on top of the current tip. An extended job's
// coinbase is taken as sent: hashgate sends non-witness serializations.
func (m *v2Miner) activate(msg sv2.Message, minNTime uint32) {
	f := m.f
	m.mu.Lock()
	if !m.hasTip {
		m.mu.Unlock()
		f.stats.earlyNotifies.Add(1)
		return
	}
	vj := &v2Job{ntime: max(m.tip.minNTime, minNTime), target: m.target}
	switch msg := msg.(type) {
	case *sv2.NewExtendedMiningJob:
		j := &work.Job{
			PrevHash: m.tip.prev, Coinb1: msg.CoinbaseTxPrefix, Coinb2: msg.CoinbaseTxSuffix,
			Extranonce1: m.prefix, Extranonce2Size: m.size, Version: msg.Version, NBits: m.tip.nbits, NTime: vj.ntime,
		}
		if len(msg.MerklePath) > 0 {
			j.Branch = make([][32]byte, len(msg.MerklePath))
			for i, n := range msg.MerklePath {
				j.Branch[i] = n
			}
		}
		if err := j.Prepare(); err != nil {
			m.mu.Unlock()
			f.stats.malformed.Add(1)
			return
		}
		vj.id, vj.job, vj.version = msg.JobID, j, msg.Version
	case *sv2.NewMiningJob:
		root := [32]byte(msg.MerkleRoot)
		vj.id, vj.version = msg.JobID, msg.Version
		vj.header = work.BuildHeader(msg.Version, &m.tip.prev, &root, vj.ntime, m.tip.nbits, 0)
		vj.headerOK = true
	}
	first := m.job == nil
	m.job = vj
	m.mu.Unlock()
	f.stats.jobs.Add(1)
	if first {
		f.ready.Add(1)
	}
}

// submit writes one SubmitSharesExtended (or Standard). It is called by the miner's pacer only.
func (m *v2Miner) submit() error {
	f := m.f
	if m.dead.Load() {
		return errDead
	}
	if int(m.inflight.Load()) >= f.cfg.MaxInflight {
		return errInflight
	}
	m.mu.Lock()
	vj := m.job
	if vj == nil {
		m.mu.Unlock()
		return errNoJob
	}
	nonce, hash, err := m.nextShare(vj)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.seq++
	var msg sv2.Message
	if vj.job == nil {
		m.std = sv2.SubmitSharesStandard{ChannelID: m.chanID, SequenceNumber: m.seq, JobID: vj.id, Nonce: nonce, NTime: vj.ntime, Version: vj.version}
		msg = &m.std
	} else {
		m.ext.ChannelID, m.ext.SequenceNumber, m.ext.JobID = m.chanID, m.seq, vj.id
		m.ext.Nonce, m.ext.NTime, m.ext.Version = nonce, vj.ntime, vj.version
		msg = &m.ext
	}
	if m.line, err = sv2.AppendFrame(m.line[:0], msg); err != nil {
		m.mu.Unlock()
		return err
	}
	now := f.now()
	fwd := f.track != nil && f.track.Met(&hash)
	if fwd {
		f.tracker.Add(NewKey(nonce, m.prefix, m.en), now)
	}
	m.pending = append(m.pending, sentShare{seq: m.seq, at: now, fwd: fwd})
	m.inflight.Add(1)
	_, err = m.nc.Write(m.line)
	m.mu.Unlock()
	if err != nil {
		m.inflight.Add(-1)
		m.lost()
		return errDead
	}
	f.stats.submitted.Add(1)
	return nil
}

// nextShare finds the next header under vj that meets its target, as loadMiner.nextShare
// does; a standard job rolls the nonce only. m.mu is held.
func (m *v2Miner) nextShare(vj *v2Job) (nonce uint32, hash [32]byte, err error) {
	for try := 0; try < m.f.cfg.MaxTries; try++ {
		if vj.job != nil && (!vj.headerOK || m.nonce>>32 != m.x) {
			m.x = m.nonce >> 32
			var ctr [8]byte
			binary.LittleEndian.PutUint64(ctr[:], m.x)
			copy(m.en, ctr[:])
			_, vj.header, err = m.hasher.Hash(vj.job, &work.Header{Extranonce2: m.en, NTime: vj.ntime, Version: vj.version})
			if err != nil {
				return 0, hash, err
			}
			vj.headerOK = true
		}
		nonce = uint32(m.nonce)
		m.nonce++
		binary.LittleEndian.PutUint32(vj.header[76:], nonce)
		hash = work.DoubleSHA256(vj.header[:])
		m.f.stats.hashes.Add(1)
		if vj.target.Met(&hash) {
			return nonce, hash, nil
		}
	}
	return 0, hash, errTries
}

// settleSuccess settles the shares one SubmitShares.Success acknowledges. It names only the
// last sequence number and a count; see pickAcknowledged for the rest of the batch. The
// count of settled shares is exact; only a send time can be paired with a neighbour's
// verdict, when the guess is wrong.
func (m *v2Miner) settleSuccess(s *sv2.SubmitSharesSuccess, now int64) {
	f := m.f
	f.stats.successFrames.Add(1)
	if m.acked && seqBefore(s.LastSequenceNumber, m.lastAck) {
		f.stats.successBackwards.Add(1)
	}
	m.lastAck, m.acked = s.LastSequenceNumber, true
	n := int(s.NewSubmitsAcceptedCount)
	settled := 0
	m.mu.Lock()
	if i := m.findPending(s.LastSequenceNumber); i >= 0 && n > 0 {
		m.settle(i, now)
		settled++
	}
	for settled < n && len(m.pending) > 0 {
		i := m.pickAcknowledged(s.LastSequenceNumber)
		m.noteGuess(m.pending[i])
		m.settle(i, now)
		settled++
	}
	m.mu.Unlock()
	m.inflight.Add(-int32(settled))
	f.stats.replies.Add(uint64(settled))
	f.stats.accepted.Add(uint64(settled))
	if n > settled {
		f.stats.unknownReplies.Add(uint64(n - settled))
	}
}

// settleError settles the one share a SubmitShares.Error names. A share an earlier batch
// settled by guess was not the one that batch acknowledged: that one is settled now instead
// (the accepted count stays, the rejection is added), so one wrong guess neither counts an
// unknown reply nor leaves a share pending for ever.
func (m *v2Miner) settleError(e *sv2.SubmitSharesError, now int64) {
	f := m.f
	m.mu.Lock()
	known := true
	if i := m.findPending(e.SequenceNumber); i >= 0 {
		m.settle(i, now)
	} else if g := m.findGuess(e.SequenceNumber); g >= 0 {
		m.f.replyLatency.Record(time.Duration(now - m.guessed[g].at))
		m.guessed = append(m.guessed[:g], m.guessed[g+1:]...)
		if len(m.pending) > 0 {
			// Its reply was the batch's; the latency recorded then stands for it.
			j := m.pickAcknowledged(m.lastAck)
			m.noteGuess(m.pending[j])
			m.pending = append(m.pending[:j], m.pending[j+1:]...)
		}
	} else {
		known = false
	}
	m.mu.Unlock()
	if !known {
		f.stats.unknownReplies.Add(1)
		return
	}
	m.inflight.Add(-1)
	f.stats.replies.Add(1)
	f.stats.rejectV2(e.ErrorCode)
}

// noteGuess remembers a share settled by guess, forgetting the oldest beyond MaxInflight.
// m.mu is held.
func (m *v2Miner) noteGuess(p sentShare) {
	if len(m.guessed) >= m.f.cfg.MaxInflight {
		m.guessed = append(m.guessed[:0], m.guessed[1:]...)
	}
	m.guessed = append(m.guessed, p)
}

// findGuess returns the index of seq in guessed, or -1. m.mu is held.
func (m *v2Miner) findGuess(seq uint32) int {
	for i, p := range m.guessed {
		if p.seq == seq {
			return i
		}
	}
	return -1
}

// pickAcknowledged guesses the next share a batch that ends at last acknowledges. last is the
// most recent sequence number acknowledged (hashgate never moves it back, even for a late
// verdict), so a batch holds no share sent after it. Shares judged locally are answered at
// once and in order, so a pending one sent before last is surely answered; forwarded shares
// wait for the pool, which answers in order, so the oldest of them is the likeliest. Only a
// server that reports some other last leaves nothing before it: then the oldest pending share
// is taken. pending is non-empty and m.mu is held.
func (m *v2Miner) pickAcknowledged(last uint32) int {
	fwd := -1
	for i, p := range m.pending {
		if !seqBefore(p.seq, last) {
			continue
		}
		if !p.fwd {
			return i
		}
		if fwd < 0 {
			fwd = i
		}
	}
	if fwd >= 0 {
		return fwd
	}
	return 0
}

// findPending returns the index of seq in pending, or -1. m.mu is held.
func (m *v2Miner) findPending(seq uint32) int {
	for i, p := range m.pending {
		if p.seq == seq {
			return i
		}
	}
	return -1
}

// settle records pending[i]'s reply latency and removes it. m.mu is held.
func (m *v2Miner) settle(i int, now int64) {
	m.f.replyLatency.Record(time.Duration(now - m.pending[i].at))
	m.pending = append(m.pending[:i], m.pending[i+1:]...)
}

// seqBefore reports whether sequence number a precedes b (modulo 2^32).
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// targetFromU256 converts an SV2 little-endian U256 target to a work.Target (big-endian).
func targetFromU256(u sv2.U256) (t work.Target) {
	for i := range t {
		t[i] = u[31-i]
	}
	return t
}

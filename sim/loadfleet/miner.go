package loadfleet

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// Request ids: the handshake uses small fixed ids; a submit's id is submitIDBase plus the
// nanoseconds since the fleet's epoch at which it was written, so its reply carries its own
// send time back and the fleet keeps no per-share state.
const (
	subscribeID  = 1
	authorizeID  = 2
	submitIDBase = int64(1) << 40
)

// maxLine caps a line from the proxy (a notify carries the whole coinbase).
const maxLine = 256 << 10

// loadJob is the work a miner submits on: the proxy's notify rebuilt under the miner's
// extranonce1, and the target in force when it arrived.
type loadJob struct {
	id       string
	idPlain  bool // the id needs no JSON escaping (the hand-written submit encoder applies)
	job      *work.Job
	target   work.Target
	header   [80]byte // for the miner's current extranonce2, nonce bytes rewritten per share
	headerOK bool
}

// loadMiner is one connection. The reader goroutine owns the socket's read side and the job;
// one pacer goroutine owns the write side after the handshake. They meet under mu.
type loadMiner struct {
	minerBase

	mu       sync.Mutex
	en1      []byte
	n2       int
	nextDiff float64
	prev     [32]byte
	job      *loadJob
	x        uint64 // the miner's extranonce2 counter
	nonce    uint64 // next nonce; carries into x past 2^32
	en2      []byte
	hasher   work.Hasher
	line     []byte // the pacer's line buffer
}

// handshake pipelines subscribe and authorize, as firmware does.
func (m *loadMiner) handshake(context.Context) error {
	var b []byte
	b, err := sv1.AppendRequest(b, sv1.IntID(subscribeID), &sv1.Subscribe{UserAgent: "hashgate-loadfleet/1.0"})
	if err != nil {
		return err
	}
	if b, err = sv1.AppendRequest(b, sv1.IntID(authorizeID), &sv1.Authorize{Username: m.name, Password: "x"}); err != nil {
		return err
	}
	m.conn.SetWriteDeadline(time.Now().Add(m.f.cfg.DialTimeout))
	_, err = m.conn.Write(b)
	m.conn.SetWriteDeadline(time.Time{})
	return err
}

// readLoop reads until the connection ends.
func (m *loadMiner) readLoop() {
	f := m.f
	lr := sv1.NewLineReader(m.conn, maxLine)
	var msg sv1.Message
	for {
		line, err := lr.ReadLine()
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
		if err := sv1.DecodeInto(&msg, line); err != nil {
			f.stats.malformed.Add(1)
			continue
		}
		m.handle(&msg, now)
	}
}

func (m *loadMiner) handle(msg *sv1.Message, now int64) {
	f := m.f
	if msg.IsResponse() {
		id, err := strconv.ParseInt(string(msg.ID), 10, 64)
		switch {
		case err != nil:
			f.stats.unknownReplies.Add(1)
		case id >= submitIDBase:
			m.inflight.Add(-1)
			f.replyLatency.Record(time.Duration(now - (id - submitIDBase)))
			f.stats.replies.Add(1)
			if msg.Accepted() {
				f.stats.accepted.Add(1)
			} else {
				f.stats.reject(msg.Error)
			}
		case id == subscribeID:
			var sr sv1.SubscribeResult
			if msg.Error != nil || json.Unmarshal(msg.Result, &sr) != nil {
				f.stats.handshakeErrors.Add(1)
				return
			}
			m.mu.Lock()
			m.en1, m.n2 = sr.Extranonce1, sr.Extranonce2Size
			m.en2 = make([]byte, sr.Extranonce2Size)
			m.mu.Unlock()
		case id == authorizeID:
			if !msg.Accepted() {
				f.stats.handshakeErrors.Add(1)
			}
		default:
			f.stats.unknownReplies.Add(1)
		}
		return
	}
	switch msg.Method {
	case sv1.MethodSetDifficulty:
		var sd sv1.SetDifficulty
		if msg.UnmarshalParams(&sd) != nil {
			f.stats.malformed.Add(1)
			return
		}
		d, err := strconv.ParseFloat(string(sd.Difficulty), 64)
		if err != nil || !(d > 0) {
			f.stats.malformed.Add(1)
			return
		}
		m.mu.Lock()
		m.nextDiff = d // latched at the next notify, as firmware does
		m.mu.Unlock()
	case sv1.MethodNotify:
		m.handleNotify(msg, now)
	case sv1.MethodPing:
		if msg.IsRequest() {
			line, _ := sv1.AppendResponse(nil, msg.ID, "pong", nil)
			m.conn.Write(line)
		}
	}
}

func (m *loadMiner) handleNotify(msg *sv1.Message, now int64) {
	f := m.f
	n, err := f.notifies.parse(msg.Params)
	if err != nil {
		f.stats.malformed.Add(1)
		return
	}
	m.mu.Lock()
	if m.en2 == nil {
		m.mu.Unlock()
		f.stats.earlyNotifies.Add(1)
		return
	}
	d := m.nextDiff
	if d == 0 {
		d = 1
	}
	t, err := f.targets.get(d)
	if err != nil {
		m.mu.Unlock()
		f.stats.malformed.Add(1)
		return
	}
	j := &work.Job{
		ID: n.JobID, PrevHash: work.PrevHashFromStratum(n.PrevHash), Coinb1: n.Coinb1, Coinb2: n.Coinb2,
		Extranonce1: m.en1, Extranonce2Size: m.n2, Branch: n.Branch, Version: n.Version, NBits: n.NBits, NTime: n.NTime,
	}
	if err := j.Prepare(); err != nil {
		m.mu.Unlock()
		f.stats.malformed.Add(1)
		return
	}
	first := m.job == nil
	newBlock := first || n.PrevHash != m.prev
	m.prev = n.PrevHash
	m.job = &loadJob{id: n.JobID, idPlain: plainJSON(n.JobID), job: j, target: t}
	m.mu.Unlock()
	f.stats.jobs.Add(1)
	if newBlock {
		m.blockAt.Store(now)
		m.blocks.Add(1)
		f.blockSeen.Add(1)
	}
	if first {
		f.ready.Add(1)
	}
}

// errSkip says a miner cannot submit this turn; the reason is counted by the caller.
var (
	errNoJob    = errors.New("no job yet")
	errInflight = errors.New("in-flight bound reached")
	errTries    = errors.New("no share within max tries")
	errDead     = errors.New("connection closed")
)

// submit writes one share. It is called by the miner's pacer only.
func (m *loadMiner) submit() error {
	f := m.f
	if m.dead.Load() {
		return errDead
	}
	if int(m.inflight.Load()) >= f.cfg.MaxInflight {
		return errInflight
	}
	m.mu.Lock()
	lj := m.job
	if lj == nil {
		m.mu.Unlock()
		return errNoJob
	}
	nonce, hash, err := m.nextShare(lj)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	now := f.now()
	m.line = appendSubmit(m.line[:0], submitIDBase+now, m.name, lj, m.en2, lj.job.NTime, nonce)
	if f.track != nil && f.track.Met(&hash) {
		f.tracker.Add(NewKey(nonce, m.en1, m.en2), now)
	}
	m.inflight.Add(1)
	_, err = m.conn.Write(m.line)
	m.mu.Unlock()
	if err != nil {
		m.inflight.Add(-1)
		if !m.dead.Swap(true) && !f.closing.Load() {
			f.stats.disconnects.Add(1)
		}
		return errDead
	}
	f.stats.submitted.Add(1)
	return nil
}

// nextShare finds the next header under lj that meets its target: one double SHA-256 per
// try, the coinbase and merkle root rebuilt only when the extranonce2 moves on. m.mu is held.
func (m *loadMiner) nextShare(lj *loadJob) (nonce uint32, hash [32]byte, err error) {
	for try := 0; try < m.f.cfg.MaxTries; try++ {
		if !lj.headerOK || m.nonce>>32 != m.x {
			m.x = m.nonce >> 32
			var ctr [8]byte
			binary.LittleEndian.PutUint64(ctr[:], m.x)
			copy(m.en2, ctr[:])
			_, lj.header, err = m.hasher.Hash(lj.job, &work.Header{Extranonce2: m.en2, NTime: lj.job.NTime, Version: lj.job.Version})
			if err != nil {
				return 0, hash, err
			}
			lj.headerOK = true
		}
		nonce = uint32(m.nonce)
		m.nonce++
		binary.LittleEndian.PutUint32(lj.header[76:], nonce)
		hash = work.DoubleSHA256(lj.header[:])
		m.f.stats.hashes.Add(1)
		if lj.target.Met(&hash) {
			return nonce, hash, nil
		}
	}
	return 0, hash, errTries
}

// appendSubmit appends the mining.submit request line exactly as sv1.AppendRequest writes it
// (proven by TestAppendSubmitMatchesCodec and FuzzAppendSubmit), without json.Marshal's
// reflection and allocations on the fleet's hottest path.
func appendSubmit(dst []byte, id int64, worker string, lj *loadJob, en2 []byte, ntime, nonce uint32) []byte {
	if !lj.idPlain || !plainJSON(worker) {
		line, err := sv1.AppendRequest(dst, sv1.IntID(id), &sv1.Submit{Worker: worker, JobID: lj.id, Extranonce2: en2, NTime: ntime, Nonce: nonce})
		if err != nil {
			return dst
		}
		return line
	}
	const hexd = "0123456789abcdef"
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"method":"mining.submit","params":["`...)
	dst = append(dst, worker...)
	dst = append(dst, `","`...)
	dst = append(dst, lj.id...)
	dst = append(dst, `","`...)
	for _, c := range en2 {
		dst = append(dst, hexd[c>>4], hexd[c&0xf])
	}
	dst = append(dst, `","`...)
	for _, v := range [2]uint32{ntime, nonce} {
		for shift := 28; shift >= 0; shift -= 4 {
			dst = append(dst, hexd[(v>>uint(shift))&0xf])
		}
		dst = append(dst, `","`...)
	}
	dst = dst[:len(dst)-2]
	return append(dst, "]}\n"...)
}

// plainJSON reports whether s is printable ASCII that encoding/json writes unescaped.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			return false
		}
	}
	return true
}

// notifyCache decodes each distinct notify once for the whole fleet: every miner behind one
// proxy receives byte-identical notify params, and a decoded Notify is never modified.
type notifyCache struct {
	mu  sync.Mutex
	raw []byte
	n   *sv1.Notify
}

func (c *notifyCache) parse(params json.RawMessage) (*sv1.Notify, error) {
	c.mu.Lock()
	if c.n != nil && bytes.Equal(params, c.raw) {
		n := c.n
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	n := new(sv1.Notify)
	if err := n.UnmarshalJSON(params); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.raw, c.n = append(c.raw[:0], params...), n
	c.mu.Unlock()
	return n, nil
}

// targetCache converts each difficulty once (the exact conversion uses big.Rat).
type targetCache struct {
	mu sync.Mutex
	m  map[float64]work.Target
}

func (c *targetCache) get(d float64) (work.Target, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[d]; ok {
		return t, nil
	}
	t, err := work.TargetFromDifficulty(d)
	if err != nil {
		return t, err
	}
	if c.m == nil {
		c.m = map[float64]work.Target{}
	}
	c.m[d] = t
	return t, nil
}

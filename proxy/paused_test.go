package proxy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	simpool "github.com/hashgate/hashgate/sim/pool"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// These tests drive a hand-written V1 miner that finds real shares of a chosen kind (meeting
// the pool's target, or only the miner's) so each answer can be checked exactly, over
// loopback TCP through the real proxy to the simulated pool.

// shareMiner is a rawMiner that keeps the job and difficulty it was sent and hashes shares.
type shareMiner struct {
	*rawMiner
	worker string
	en1    []byte
	n2     int
	diff   float64 // the last mining.set_difficulty
	jobID  string
	job    *work.Job
	target work.Target // the miner's target for job
	en2    uint64      // extranonce2 counter: every share is new work
	id     int
}

func dialShareMiner(t *testing.T, addr, worker string) *shareMiner {
	t.Helper()
	m := &shareMiner{rawMiner: dialRaw(t, addr), worker: worker, diff: 1, id: 100}
	m.send(`{"id":1,"method":"mining.subscribe","params":["share/1.0"]}`)
	m.send(`{"id":2,"method":"mining.authorize","params":["` + worker + `","x"]}`)
	sub := m.reply("1")
	var sr sv1.SubscribeResult
	if sub.Error != nil || json.Unmarshal(sub.Result, &sr) != nil {
		t.Fatalf("subscribe: %s %v", sub.Result, sub.Error)
	}
	m.en1, m.n2 = sr.Extranonce1, sr.Extranonce2Size
	if a := m.reply("2"); !a.Accepted() {
		t.Fatalf("authorize: %v", a.Error)
	}
	m.nextJob()
	return m
}

// nextJob reads until the next mining.notify, latching the difficulty sent before it; it
// reports whether the notify had clean_jobs.
func (m *shareMiner) nextJob() bool {
	m.t.Helper()
	var n sv1.Notify
	m.next(func(msg *sv1.Message) bool {
		switch msg.Method {
		case sv1.MethodSetDifficulty:
			var sd sv1.SetDifficulty
			if msg.UnmarshalParams(&sd) == nil {
				if d, err := strconv.ParseFloat(string(sd.Difficulty), 64); err == nil {
					m.diff = d
				}
			}
		case sv1.MethodNotify:
			return msg.UnmarshalParams(&n) == nil
		}
		return false
	})
	j := &work.Job{ID: n.JobID, PrevHash: work.PrevHashFromStratum(n.PrevHash), Coinb1: n.Coinb1, Coinb2: n.Coinb2,
		Extranonce1: m.en1, Extranonce2Size: m.n2, Branch: n.Branch, Version: n.Version, NBits: n.NBits, NTime: n.NTime}
	if err := j.Prepare(); err != nil {
		m.t.Fatal(err)
	}
	t, err := work.TargetFromDifficulty(m.diff)
	if err != nil {
		m.t.Fatal(err)
	}
	m.jobID, m.job, m.target = n.JobID, j, t
	return n.Clean
}

// find hashes the current job until a share meets the miner's target and ok, and returns it.
func (m *shareMiner) find(ok func(hash *[32]byte) bool) *sv1.Submit {
	m.t.Helper()
	for {
		m.en2++
		en2 := make([]byte, m.n2)
		var ctr [8]byte
		binary.LittleEndian.PutUint64(ctr[:], m.en2)
		copy(en2, ctr[:])
		var hs work.Hasher
		_, header, err := hs.Hash(m.job, &work.Header{Extranonce2: en2, NTime: m.job.NTime, Version: m.job.Version})
		if err != nil {
			m.t.Fatal(err)
		}
		for nonce := uint32(0); nonce < 1<<22; nonce++ {
			binary.LittleEndian.PutUint32(header[76:], nonce)
			h := work.DoubleSHA256(header[:])
			if m.target.Met(&h) && ok(&h) {
				return &sv1.Submit{Worker: m.worker, JobID: m.jobID, Extranonce2: en2, NTime: m.job.NTime, Nonce: nonce}
			}
		}
	}
}

// submit sends s and returns the proxy's answer to it.
func (m *shareMiner) submit(s *sv1.Submit) *sv1.Message {
	m.t.Helper()
	m.id++
	line, err := sv1.AppendRequest(nil, sv1.IntID(int64(m.id)), s)
	if err != nil {
		m.t.Fatal(err)
	}
	if _, err := m.c.Write(line); err != nil {
		m.t.Fatal(err)
	}
	return m.reply(strconv.Itoa(m.id))
}

// syncBuffer is a log sink the proxy's goroutines and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

func workerRow(t *testing.T, px *Proxy, worker string) WorkerStats {
	t.Helper()
	for _, w := range px.Workers() {
		if w.Worker == worker {
			return w
		}
	}
	t.Fatalf("worker %s not listed", worker)
	return WorkerStats{}
}

func wantPaused(t *testing.T, m *sv1.Message) {
	t.Helper()
	if m.Error == nil || m.Error.Code != sv1.CodePaused || m.Error.Message != "Paused by site power policy or operator: share not forwarded" {
		t.Fatalf("want the paused rejection, got result %s error %+v", m.Result, m.Error)
	}
}

// TestPausedMinerSharesRejectedV1: a paused miner that keeps hashing on the job it had is told
// its shares are rejected as paused, whether they meet the pool's target or only its own; none
// reaches the pool; they are counted as paused, not accepted; the first of each pause is logged
// once. After Resume its shares are accepted and forwarded again.
func TestPausedMinerSharesRejectedV1(t *testing.T) {
	const worker = "rack8.m00"
	sp, paddr := startPool(t, nil) // pool difficulty 1e-5, a mainnet-hard network target
	var logs syncBuffer
	log := zerolog.New(&logs)
	px, addr := startProxy(t, testConfig(paddr), Options{Logger: &log})
	m := dialShareMiner(t, addr, worker)
	poolT := work.MustTarget(1e-5)
	poolShare := func(h *[32]byte) bool { return poolT.Met(h) }
	localShare := func(h *[32]byte) bool { return !poolT.Met(h) }

	if r := m.submit(m.find(poolShare)); !r.Accepted() {
		t.Fatalf("running miner's share: %v", r.Error)
	}
	eventually(t, "the pool to accept the running miner's share", func() bool { return sp.AcceptedBy("acct."+worker) == 1 })

	px.Pause(worker)
	// The job was issued before the pause; the miner is paused now, so the rule is the pause's.
	wantPaused(t, m.submit(m.find(poolShare)))
	wantPaused(t, m.submit(m.find(localShare)))
	wantPaused(t, m.submit(m.find(poolShare)))
	w := workerRow(t, px, worker)
	if w.State != "paused" || w.Shares["paused"] != 3 || w.Shares["accepted"] != 1 || w.Shares["forwarded"] != 1 || w.Shares["not_forwarded"] != 0 {
		t.Fatalf("paused worker's counters: state %s shares %v", w.State, w.Shares)
	}
	if st := px.Status(); st.Shares["paused"] != 3 {
		t.Fatalf("proxy counts %d paused shares, want 3", st.Shares["paused"])
	}
	const note = "paused miner still hashing"
	if n := logs.count(note); n != 1 {
		t.Fatalf("logged %d times during one pause, want once", n)
	}

	px.Resume(worker)
	m.nextJob() // resuming sends a clean job at once
	if r := m.submit(m.find(poolShare)); !r.Accepted() {
		t.Fatalf("resumed miner's share: %v", r.Error)
	}
	// The upstream connection is one ordered stream: by the time the pool has the share sent
	// after Resume, it would have had any paused one before it.
	eventually(t, "the pool to accept the resumed miner's share", func() bool { return sp.AcceptedBy("acct."+worker) >= 2 })
	if n := sp.AcceptedBy("acct." + worker); n != 2 || sp.Rejected() != 0 {
		t.Fatalf("pool accepted %d and rejected %d shares, want 2 and 0: a paused share reached it", n, sp.Rejected())
	}
	w = workerRow(t, px, worker)
	if w.State != "running" || w.Shares["paused"] != 3 || w.Shares["accepted"] != 2 || w.Shares["forwarded"] != 2 {
		t.Fatalf("resumed worker's counters: state %s shares %v", w.State, w.Shares)
	}

	// A second pause is noted once more, on its first share.
	px.Pause(worker)
	wantPaused(t, m.submit(m.find(localShare)))
	wantPaused(t, m.submit(m.find(localShare)))
	if n := logs.count(note); n != 2 {
		t.Fatalf("logged %d times over two pauses, want 2", n)
	}
}

// TestPausedMinerBlockCandidateForwarded: a block candidate from a paused miner still goes to
// the pool and is answered as the pool answers it; pausing is about power, the block is worth
// more.
func TestPausedMinerBlockCandidateForwarded(t *testing.T) {
	const worker = "rack8.m01"
	sp, paddr := startPool(t, func(c *simpool.Config) { c.NBits = 0x207fffff }) // regtest: blocks are easy
	px, addr := startProxy(t, testConfig(paddr), Options{})
	m := dialShareMiner(t, addr, worker)
	poolT := work.MustTarget(1e-5)
	px.Pause(worker)
	s := m.find(func(h *[32]byte) bool { return poolT.Met(h) && m.job.NetworkTarget().Met(h) })
	if r := m.submit(s); !r.Accepted() {
		t.Fatalf("paused miner's block candidate: %v", r.Error)
	}
	eventually(t, "the pool to receive the block", func() bool { return sp.Blocks() == 1 })
	w := workerRow(t, px, worker)
	if w.Shares["block_candidate"] != 1 || w.Shares["forwarded"] != 1 || w.Shares["paused"] != 0 {
		t.Fatalf("paused worker's block counters: %v", w.Shares)
	}
}

func TestPausedShareErrorEncoding(t *testing.T) {
	line := sv1.AppendErrorResponse(nil, sv1.IntID(4), sv1.StandardError(codePaused))
	want := fmt.Sprintf(`{"id":4,"result":null,"error":[26,%q,null]}`+"\n", "Paused by site power policy or operator: share not forwarded")
	if string(line) != want {
		t.Fatalf("got %s want %s", line, want)
	}
	if v2SubmitError(codePaused) != "miner-paused" || v2SubmitError(codeStale) != "stale-share" {
		t.Fatal("V2 error codes")
	}
}

// TestPausedMinerSharesRejectedV2: paused V2 devices (an extended and a standard channel) that
// keep hashing on their last job get SubmitShares.Error "miner-paused" for every share; none is
// forwarded or counted as accepted, and the pool sees only what was forwarded. After Resume
// their shares are accepted and reach the pool again.
func TestPausedMinerSharesRejectedV2(t *testing.T) {
	sp, paddr := startPool(t, nil)
	k := newV2Keys(t)
	px, _, a2 := startProxyV2(t, testConfig(paddr), k)
	ms := startMiners2(t, a2, k.authority.PublicKey(), 2, "rack8", nil) // v00 extended, v01 standard
	workers := []string{"rack8.v00", "rack8.v01"}
	eventually(t, "both devices mining at the pool", func() bool {
		return sp.AcceptedBy("acct."+workers[0]) > 0 && sp.AcceptedBy("acct."+workers[1]) > 0
	})

	for _, w := range workers {
		px.Pause(w)
	}
	frozen := map[string]WorkerStats{}
	for i, w := range workers {
		eventually(t, w+" told its share was paused", func() bool {
			return ms[i].Rejects()[v2ErrPaused] > 0 && workerRow(t, px, w).Shares["paused"] > 0
		})
		// Every share judged from here on meets the closed gate.
		frozen[w] = workerRow(t, px, w)
	}
	for i, w := range workers {
		eventually(t, w+" rejected as paused again and again", func() bool {
			return workerRow(t, px, w).Shares["paused"] >= frozen[w].Shares["paused"]+5 && ms[i].Rejects()[v2ErrPaused] >= 5
		})
		row := workerRow(t, px, w)
		for _, r := range []string{"accepted", "forwarded", "not_forwarded"} {
			if row.Shares[r] != frozen[w].Shares[r] {
				t.Fatalf("%s: %s moved from %d to %d while paused", w, r, frozen[w].Shares[r], row.Shares[r])
			}
		}
		if rj := ms[i].Rejects(); len(rj) != 1 {
			t.Fatalf("%s: rejects %v, want only %s", w, rj, v2ErrPaused)
		}
		// The pool has exactly what was forwarded before the pause.
		eventually(t, w+" verdicts to settle", func() bool {
			s := workerRow(t, px, w).Shares
			return s["forwarded"] == s["pool_accepted"]+s["pool_rejected"]+s["pool_unknown"]
		})
		if got, want := sp.AcceptedBy("acct."+w), workerRow(t, px, w).Shares["pool_accepted"]; got != want {
			t.Fatalf("%s: pool accepted %d, proxy forwarded and saw accepted %d", w, got, want)
		}
	}

	for _, w := range workers {
		px.Resume(w)
	}
	for i, w := range workers {
		acc, pool := ms[i].Stats.Accepted.Load(), sp.AcceptedBy("acct."+w)
		eventually(t, w+" accepted and forwarded again", func() bool {
			return ms[i].Stats.Accepted.Load() > acc && sp.AcceptedBy("acct."+w) > pool &&
				workerRow(t, px, w).Shares["forwarded"] > frozen[w].Shares["forwarded"]
		})
	}
}

package proxy

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A parked miner's burst (its socket became readable) runs on one of a few burst workers
// instead of a goroutine of its own. Under full share load thousands of parked miners wake
// at once; as thousands of new goroutines they filled the run queue that the block fan-out
// workers (fanout.go) wait in, and a new block reached the last miner seconds late. A few
// workers that loop over a ready queue keep the runnable goroutines few, whatever the load.
//
// Fairness and bounds (the pool's policy): a turn handles at most burstTurnLines lines of one
// miner, then the miner goes to the back of the queue behind every miner that became ready
// meanwhile, so a flooding miner costs others one turn, not its whole flood. Nothing is
// dropped: the queue holds each ready connection at most once (it has left the parker and has
// no other reader), so it is bounded by the connections the proxy accepts.
//
// A worker never waits on a miner: where a turn would wait (part of a line read and the rest
// not there yet, a close lingering for the last reply, the fallback when a miner cannot be
// parked), the goroutine leaves the pool first (leaveBurst), becomes that miner's own reader
// as before parking existed, and a new worker takes its place. For a wait nobody foresaw (a
// lock held long, a share sink that blocks), a check every burstStall while miners queue
// counts the workers that started no line since the last check as stuck and starts others
// in their place: the queue always has burstWorkers workers that are moving. Progress is
// counted by line, not by turn: a turn of slow lines on a loaded box is not stuck, and
// counting it so started burstWorkers more workers at every check for as long as it lasted,
// the run-queue growth the pool is there to prevent. Stuck workers have no cap: each blocked
// turn costs one goroutine until it ends (200 blocked turns, 200 workers: one per miner, as
// before the pool), where a cap would leave every parked miner behind one sink that blocks.

// burstTurnLines is the most lines a miner's turn handles before it yields its worker.
const burstTurnLines = 16

// burstTurnBytes is the most a turn reads in its line reader (readRest: the rest of a line
// begun) before it leaves the pool: room for burstTurnLines short lines and one of the
// longest allowed. The line reader skips empty lines without returning, so a miner sending
// nothing but line breaks would never reach the turn's line count and would hold a worker for
// as long as it kept sending.
func burstTurnBytes(maxLine int) int { return maxLine + burstTurnLines*lineBufSize }

// burstStall is how often a non-empty queue is checked for stuck workers.
const burstStall = 50 * time.Millisecond

// burstWorkers is how many workers run parked miners' bursts: one per P keeps every core
// busy (a turn never waits), and no more leaves the fan-out its share of the run queue.
func burstWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }

type burstPool struct {
	p   *Proxy
	max int

	mu      sync.Mutex
	ring    []*v1Conn // the ready queue: ring[head], ... (n of them), FIFO
	head, n int
	all     []*burstWorker // the workers in the pool (not those that left)
	free    []*burstWorker // of workers that ran out of miners, for the next to start
	stuck   int            // of all, those that started no line since the last check
	timer   *time.Timer    // the stall check, armed while miners queue
}

// burstWorker is one worker goroutine's state. left and read are its own, steps is atomic;
// the rest is under pool.mu.
type burstWorker struct {
	pool  *burstPool
	left  bool // it handed the miner it ran a goroutine of its own: itself
	busy  bool
	stuck bool
	read  int           // bytes the current turn read in readRest: the turn's own
	steps atomic.Uint64 // turns and lines started; added to by the turn's goroutine
	seen  uint64        // steps at the last stall check
	idx   int           // in pool.all
}

// run queues miners taken from the parker, each counted in the proxy's WaitGroup until its
// turn ends without a requeue, and starts workers for them.
func (b *burstPool) run(conns []*v1Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range conns {
		b.pushLocked(s)
	}
	b.spawnLocked()
}

func (b *burstPool) pushLocked(s *v1Conn) {
	if b.n == len(b.ring) {
		grown := make([]*v1Conn, max(64, 2*len(b.ring)))
		for i := range b.n {
			grown[i] = b.ring[(b.head+i)%len(b.ring)]
		}
		b.ring, b.head = grown, 0
	}
	b.ring[(b.head+b.n)%len(b.ring)] = s
	b.n++
	if b.timer == nil {
		b.timer = time.AfterFunc(burstStall, b.check)
	}
}

func (b *burstPool) popLocked() *v1Conn {
	s := b.ring[b.head]
	b.ring[b.head] = nil
	b.head = (b.head + 1) % len(b.ring)
	if b.n--; b.n == 0 {
		b.head = 0
		if len(b.ring) > 1024 {
			b.ring = nil // a surge's queue is not kept for the idle hours after it
		}
	}
	return s
}

// spawnLocked starts workers until burstWorkers of them are moving or each queued miner
// has one. Each is counted in the proxy's WaitGroup, which the queued miners keep above zero.
func (b *burstPool) spawnLocked() {
	for len(b.all)-b.stuck < b.max && len(b.all)-b.stuck < b.n {
		var w *burstWorker
		if k := len(b.free); k > 0 {
			w, b.free[k-1], b.free = b.free[k-1], nil, b.free[:k-1]
		} else {
			w = &burstWorker{pool: b}
		}
		w.idx = len(b.all)
		b.all = append(b.all, w)
		b.p.wg.Add(1)
		go b.work(w)
	}
}

func (b *burstPool) removeLocked(w *burstWorker) {
	if w.stuck {
		w.stuck = false
		b.stuck--
	}
	last := b.all[len(b.all)-1]
	b.all[w.idx], last.idx = last, w.idx
	b.all[len(b.all)-1] = nil
	b.all = b.all[:len(b.all)-1]
}

// next ends w's turn, queueing back (when not nil) at the back, and gives w the next miner;
// nil: w leaves (nothing queued, or more workers are moving than the pool keeps).
func (b *burstPool) next(w *burstWorker, back *v1Conn) *v1Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	if back != nil {
		b.pushLocked(back)
	}
	w.busy = false
	if w.stuck {
		w.stuck = false
		b.stuck--
	}
	if b.n == 0 || len(b.all)-b.stuck > b.max {
		b.removeLocked(w)
		if len(b.free) < b.max {
			// Its goroutine returns without touching w again (one that left the pool may
			// still read w.left, so only these are reused): a burst starts no allocation.
			w.busy, w.stuck, w.read, w.seen, w.idx = false, false, 0, 0, 0
			w.steps.Store(0)
			b.free = append(b.free, w)
		}
		return nil
	}
	w.busy = true
	w.steps.Add(1)
	return b.popLocked()
}

// work is a worker: turns until the queue is empty or it gave its miner its goroutine.
func (b *burstPool) work(w *burstWorker) {
	defer b.p.wg.Done()
	var back *v1Conn
	for {
		s := b.next(w, back)
		if s == nil {
			return
		}
		back = nil
		s.bw, w.read = w, 0
		if s.run() == readYielded {
			back = s // keeps its count in the WaitGroup
			continue
		}
		b.p.wg.Done()
		if w.left {
			return
		}
	}
}

// leave takes w out of the pool (its goroutine is about to wait for one miner) and starts
// another worker if miners queue.
func (b *burstPool) leave(w *burstWorker) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w.left = true
	b.removeLocked(w)
	b.spawnLocked()
}

// check runs every burstStall while miners queue: a worker that started no line since the
// last check has been on one at least burstStall and is counted stuck; others start in its
// place.
func (b *burstPool) check() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 {
		b.timer = nil
		return
	}
	for _, w := range b.all {
		steps := w.steps.Load()
		if w.busy && !w.stuck && steps == w.seen {
			w.stuck = true
			b.stuck++
		}
		w.seen = steps
	}
	b.spawnLocked()
	b.timer = time.AfterFunc(burstStall, b.check)
}

// step notes that a turn starts its line number lines (from 0); true: the turn has had its
// burstTurnLines and ends.
func (w *burstWorker) step(lines int) bool {
	if lines == burstTurnLines {
		return true
	}
	w.steps.Add(1)
	return false
}

// leaveBurst makes the calling goroutine, when it runs s's turn on a burst worker, s's own
// reader: it is about to wait for this one miner, which a shared worker must never do.
func (s *v1Conn) leaveBurst() {
	if w := s.bw; w != nil {
		s.bw = nil
		w.pool.leave(w)
	}
}

// readOutcome is how a reader's run ended.
type readOutcome uint8

const (
	readEnded   readOutcome = iota // the connection is closed and cleaned up
	readParked                     // parked: another reader may already own the connection
	readYielded                    // its turn's lines are done; it has more, and queues again
)

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// burstState is the pool's workers (those in the pool, of which stuck) and queued miners.
func burstState(px *Proxy) (workers, stuck, queued int) {
	b := &px.park.bursts
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.all), b.stuck, b.n
}

// TestBurstReadersBoundedUnderSimultaneousBursts: 600 parked miners each send a burst of
// shares at once; every share is answered, and the goroutines running miners' lines stay a
// few per P (a goroutine per woken miner before: hundreds at once), none once all is answered.
func TestBurstReadersBoundedUnderSimultaneousBursts(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	const n, per = 600, 4
	ms := dialParkMiners(t, px, addr, "rackB", n)

	stopPeak := samplePeak(func() int { return goroutinesIn("(*v1Conn).readLoop") }, 0)
	bursts := make([][]byte, n)
	for i, m := range ms {
		bursts[i] = m.shareBurst(per, i*per)
	}
	for i, m := range ms { // one goroutine writes every burst: the test adds no goroutine per miner
		if _, err := m.c.Write(bursts[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		m.allAccepted(per)
	}
	peak := stopPeak()
	// Workers a stall check started for a turn the loaded machine did not schedule in time
	// are allowed for: a few, never one per miner.
	if limit := 3 * max(2, runtime.GOMAXPROCS(0)); peak > limit {
		t.Fatalf("%d goroutines ran miners' lines at once for %d bursts, want <= %d", peak, n, limit)
	}
	waitParked(t, px, n)
	eventually(t, "the burst workers gone", func() bool { w, _, q := burstState(px); return w == 0 && q == 0 })
	if g := goroutinesIn("(*v1Conn).readLoop"); g != 0 {
		t.Fatalf("%d readers left with every miner parked", g)
	}
}

// flooder is a parked miner that sends lines without pause until stopped: replies to
// nothing (read and dropped by the proxy, no answer, no rate limit) with a request every
// 512 lines, whose answers it counts.
type flooder struct {
	c       net.Conn
	replies atomic.Int64
	stop    chan struct{}
	wrote   chan struct{} // closed when the writer has stopped
	done    sync.WaitGroup
}

func startFlooder(t *testing.T, addr, worker string) *flooder {
	t.Helper()
	return startFlooderOf(t, addr, worker, strings.Repeat(`{"id":3,"result":true,"error":null}`+"\n", 511)+
		`{"id":9,"method":"mining.extranonce.subscribe","params":[]}`+"\n")
}

// startFlooderOf is a flooder that sends chunk without pause.
func startFlooderOf(t *testing.T, addr, worker, chunk string) *flooder {
	t.Helper()
	r := dialRaw(t, addr)
	r.handshake(worker)
	f := &flooder{c: r.c, stop: make(chan struct{}), wrote: make(chan struct{})}
	f.done.Add(2)
	go func() {
		defer f.done.Done()
		defer close(f.wrote)
		chunk := []byte(chunk)
		for {
			select {
			case <-f.stop:
				return
			default:
			}
			if _, err := f.c.Write(chunk); err != nil {
				return
			}
		}
	}()
	go func() {
		defer f.done.Done()
		for {
			line, err := r.br.ReadSlice('\n')
			if err != nil {
				return
			}
			if strings.Contains(string(line), `"id":9`) {
				f.replies.Add(1)
			}
		}
	}()
	t.Cleanup(f.end)
	return f
}

func (f *flooder) end() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.c.Close()
	f.done.Wait()
}

// TestBurstFloodingMinersDoNotStarveOthers: four times as many miners as there are burst
// workers send lines without pause; a parked miner's share is still answered, each flooder
// keeps being answered (none is dropped), and the pool stays near its size: the flooders'
// turns end and requeue. A turn that read a flood to its end would hold its worker until the
// stall check started another, one per flooder.
func TestBurstFloodingMinersDoNotStarveOthers(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	victim := dialParkMiner(t, addr, "rackF.victim")
	waitParked(t, px, 1)
	stopPeak := samplePeak(func() int { w, _, _ := burstState(px); return w }, time.Millisecond)
	var fs []*flooder
	for i := range 4 * burstWorkers() {
		fs = append(fs, startFlooder(t, addr, fmt.Sprintf("rackF.flood%d", i)))
	}
	eventually(t, "every flooder answered", func() bool {
		for _, f := range fs {
			if f.replies.Load() < 20 {
				return false
			}
		}
		return true
	})
	for k := range 3 {
		victim.submit(60+k, 60+k)
		if r := victim.reply(fmt.Sprint(60 + k)); !r.Accepted() {
			t.Fatalf("share %d behind the flood: %s %v", k, r.Result, r.Error)
		}
	}
	before := make([]int64, len(fs))
	for i, f := range fs {
		before[i] = f.replies.Load()
	}
	eventually(t, "every flooder still answered", func() bool {
		for i, f := range fs {
			if f.replies.Load() < before[i]+20 {
				return false
			}
		}
		return true
	})
	if n := len(px.Workers()); n != 1+len(fs) {
		t.Fatalf("%d miners connected, want %d: a flooder was dropped", n, 1+len(fs))
	}
	peak := stopPeak()
	// As in TestBurstReadersBoundedUnderSimultaneousBursts: room for workers started in place
	// of turns the loaded machine left unscheduled, not for one per flooder.
	if limit := 3 * burstWorkers(); peak > limit {
		t.Fatalf("%d burst workers at once for %d flooders, want <= %d", peak, len(fs), limit)
	}
	for _, f := range fs {
		f.end()
	}
	eventually(t, "the flooders gone", func() bool { return len(px.Workers()) == 1 })
	eventually(t, "the burst workers gone", func() bool { w, _, q := burstState(px); return w == 0 && q == 0 })
}

// TestBurstBlankLineFloodLeavesThePool: miners that send empty lines without pause (the
// line reader skips them, so no line ever ends a turn) do not each hold a burst worker: a
// turn that has read its byte budget without finishing its lines leaves the pool, as one
// that would wait does. The pool stays near its size, a parked miner's share is answered,
// and each flooder, once it stops, is answered and parks.
func TestBurstBlankLineFloodLeavesThePool(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	victim := dialParkMiner(t, addr, "rackE.victim")
	waitParked(t, px, 1)
	stopPeak := samplePeak(func() int { w, _, _ := burstState(px); return w }, time.Millisecond)
	var fs []*flooder
	for i := range 4 * burstWorkers() {
		fs = append(fs, startFlooderOf(t, addr, fmt.Sprintf("rackE.flood%d", i), strings.Repeat("\r\n", 32<<10)))
	}
	// Every flooder is being read at once (a turn that read the flood to its end would keep
	// its worker: one per flooder).
	eventually(t, "every flooder read", func() bool { return goroutinesIn("(*v1Conn).readLoop") == len(fs) })
	for k := range 3 {
		victim.submit(60+k, 60+k)
		if r := victim.reply(fmt.Sprint(60 + k)); !r.Accepted() {
			t.Fatalf("share %d behind the flood: %s %v", k, r.Result, r.Error)
		}
	}
	peak := stopPeak()
	if limit := 3 * burstWorkers(); peak > limit {
		t.Fatalf("%d burst workers at once for %d blank-line flooders, want <= %d", peak, len(fs), limit)
	}
	for i, f := range fs {
		close(f.stop)
		<-f.wrote
		if _, err := f.c.Write([]byte(`{"id":9,"method":"mining.extranonce.subscribe","params":[]}` + "\n")); err != nil {
			t.Fatal(err)
		}
		eventually(t, fmt.Sprintf("flooder %d answered after its flood", i), func() bool { return f.replies.Load() == 1 })
	}
	waitParked(t, px, 1+len(fs))
	eventually(t, "the burst workers gone", func() bool { w, _, q := burstState(px); return w == 0 && q == 0 })
}

// TestBurstTrickledLineLeavesThePool: parked miners that send part of a line and stop are
// each handed a goroutine of their own to wait for the rest; the pool keeps no worker for
// them, another miner's share is answered meanwhile, and the lines, once finished, are.
func TestBurstTrickledLineLeavesThePool(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	other := dialParkMiner(t, addr, "rackL.other")
	k := 2 * burstWorkers()
	halves := make([]*parkMiner, k)
	for i := range halves {
		halves[i] = dialParkMiner(t, addr, fmt.Sprintf("rackL.half%d", i))
	}
	waitParked(t, px, k+1)
	lines := make([]string, k)
	for i, m := range halves {
		lines[i] = fmt.Sprintf(`{"id":90,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}`+"\n", m.worker, m.job, m.en2, m.ntime, 90+i)
		// A whole share, then half of the next line: the turn answers the first and waits
		// for the rest of the second.
		first := fmt.Sprintf(`{"id":89,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}`+"\n", m.worker, m.job, m.en2, m.ntime, 190+i)
		if _, err := m.c.Write([]byte(first + lines[i][:len(lines[i])/2])); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range halves {
		if r := m.reply("89"); !r.Accepted() {
			t.Fatalf("miner %d: %s %v", i, r.Result, r.Error)
		}
	}
	waitParked(t, px, 1)
	eventually(t, "the waiting miners out of the pool", func() bool {
		w, _, _ := burstState(px)
		return w == 0 && goroutinesIn("(*v1Conn).readRest") == k
	})
	other.submit(91, 91)
	if r := other.reply("91"); !r.Accepted() {
		t.Fatalf("the other miner: %s %v", r.Result, r.Error)
	}
	for i, m := range halves {
		if _, err := m.c.Write([]byte(lines[i][len(lines[i])/2:])); err != nil {
			t.Fatal(err)
		}
		if r := m.reply("90"); !r.Accepted() {
			t.Fatalf("miner %d finished line: %s %v", i, r.Result, r.Error)
		}
	}
	waitParked(t, px, k+1)
	if g := goroutinesIn("(*v1Conn).readLoop"); g != 0 {
		t.Fatalf("%d readers left with every miner parked", g)
	}
}

// blockingSink holds RecordShare for the workers named in block until released: a sink that
// breaks its promise not to block, or anything else a turn might wait on.
type blockingSink struct {
	release chan struct{}
	held    atomic.Int64
}

func (s *blockingSink) RecordShare(ev ShareEvent) {
	if strings.HasPrefix(ev.Worker, "rackS.stuck") {
		s.held.Add(1)
		<-s.release
	}
}

// TestBurstBlockedTurnDoesNotHoldOthers: shares whose recording blocks hold every burst
// worker; the stall check counts them stuck and starts others, so another miner's share is
// answered while they wait, and once released they are answered and the pool shrinks back.
func TestBurstBlockedTurnDoesNotHoldOthers(t *testing.T) {
	_, paddr := startPool(t, nil)
	sink := &blockingSink{release: make(chan struct{})}
	px, addr := startProxy(t, shareConfig(paddr), Options{Sink: sink})
	released := false
	t.Cleanup(func() {
		if !released {
			close(sink.release)
		}
	})
	other := dialParkMiner(t, addr, "rackS.other")
	k := 2 * burstWorkers()
	stuck := make([]*parkMiner, k)
	for i := range stuck {
		stuck[i] = dialParkMiner(t, addr, fmt.Sprintf("rackS.stuck%d", i))
	}
	waitParked(t, px, k+1)
	for i, m := range stuck {
		m.submit(70, 70+i)
	}
	eventually(t, "every stuck miner's turn blocked", func() bool { return sink.held.Load() == int64(k) })
	other.submit(71, 71)
	if r := other.reply("71"); !r.Accepted() {
		t.Fatalf("the other miner behind blocked turns: %s %v", r.Result, r.Error)
	}
	waitParked(t, px, 1)
	close(sink.release)
	released = true
	for i, m := range stuck {
		if r := m.reply("70"); !r.Accepted() {
			t.Fatalf("stuck miner %d: %s %v", i, r.Result, r.Error)
		}
	}
	waitParked(t, px, k+1)
	eventually(t, "the burst workers gone", func() bool { w, s, q := burstState(px); return w == 0 && s == 0 && q == 0 })
}

// TestBurstMinerGoneWhileQueued: miners that wake and close at once, and a miner that ends
// with a last line (an oversized line: answered, then the close lingers), are cleaned up once
// each on the workers, which are gone afterwards.
func TestBurstMinerGoneWhileQueued(t *testing.T) {
	_, paddr := startPool(t, nil)
	cfg := shareConfig(paddr)
	cfg.MaxLine = 4096
	px, addr, logs := logProxy(t, cfg, Options{})
	const n = 100
	rs := make([]*rawMiner, n)
	for i := range rs {
		rs[i] = dialRaw(t, addr)
		rs[i].handshake(fmt.Sprintf("rackG.m%03d", i))
	}
	big := dialRaw(t, addr)
	big.handshake("rackG.big")
	waitParked(t, px, n+1)
	for _, r := range rs {
		r.c.Write([]byte(`{"id":5,"method":"mining.extranonce.subscribe","params":[]}` + "\n"))
		r.c.Close()
	}
	if _, err := big.c.Write([]byte(strings.Repeat("x", 64<<10))); err != nil {
		t.Fatal(err)
	}
	m := big.next(func(m *sv1.Message) bool { return m.IsResponse() && m.Error != nil })
	if !strings.Contains(m.Error.Message, "Line too long") {
		t.Fatalf("oversized line answered %v", m.Error)
	}
	big.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, big.c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the oversized line's miner was never closed")
		}
	}
	eventually(t, "every miner removed", func() bool { return len(px.Workers()) == 0 })
	eventually(t, "one disconnect logged per miner", func() bool { return logs.count(`"miner disconnected"`) == n+1 })
	eventually(t, "the burst workers gone", func() bool { w, _, q := burstState(px); return w == 0 && q == 0 })
	if px.park.count() != 0 {
		t.Fatal("a gone miner is still parked")
	}
}

// slowSink takes a while over each share of the workers named rackP.*: a turn that moves,
// line by line, but takes longer than burstStall (a loaded box, a slow ledger).
type slowSink struct{ per time.Duration }

func (s slowSink) RecordShare(ev ShareEvent) {
	if strings.HasPrefix(ev.Worker, "rackP.") {
		time.Sleep(s.per)
	}
}

// TestBurstSlowTurnsDoNotGrowThePool: parked miners burst while each line takes half of
// burstStall, so every turn spans several stall checks. A turn that keeps finishing lines
// is not stuck: the pool stays near its size instead of gaining burstWorkers workers at
// every check for as long as the queue lasts, and every share is answered.
func TestBurstSlowTurnsDoNotGrowThePool(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{Sink: slowSink{per: burstStall / 2}})
	n, per := 4*burstWorkers(), 2*burstTurnLines
	ms := make([]*parkMiner, n)
	for i := range ms {
		ms[i] = dialParkMiner(t, addr, fmt.Sprintf("rackP.m%03d", i))
	}
	waitParked(t, px, n)
	stopPeak := samplePeak(func() int { w, _, _ := burstState(px); return w }, time.Millisecond)
	for i, m := range ms {
		if _, err := m.c.Write(m.shareBurst(per, i*per)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		m.allAccepted(per)
	}
	peak := stopPeak()
	// Room for a line the loaded machine left unscheduled past a check, not for a worker per
	// check.
	if limit := 3 * burstWorkers(); peak > limit {
		t.Fatalf("%d burst workers at once for turns that kept moving, want <= %d", peak, limit)
	}
	waitParked(t, px, n)
	eventually(t, "the burst workers gone", func() bool { w, s, q := burstState(px); return w == 0 && s == 0 && q == 0 })
}

// TestBurstRearmRacesLoseNoWakeUp: parked miners send a request, then another in a second
// write, round after round, each waiting for both answers. The second write lands anywhere
// around the turn's end: read in the same turn, between the read that found the socket empty
// and the re-arm of its one-shot event, or after it is parked. A wake-up lost in that window
// strands the miner with a request never answered.
func TestBurstRearmRacesLoseNoWakeUp(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	k, rounds := 4*burstWorkers(), 150
	ms := make([]*parkMiner, k)
	for i := range ms {
		ms[i] = dialParkMiner(t, addr, fmt.Sprintf("rackW.m%02d", i))
	}
	waitParked(t, px, k)
	errs := make(chan error, k)
	for _, m := range ms {
		go func() {
			errs <- func() error {
				br := bufio.NewReader(m.c)
				for r := range rounds {
					for _, id := range []int{2 * r, 2*r + 1} {
						line := fmt.Sprintf(`{"id":%d,"method":"mining.extranonce.subscribe","params":[]}`+"\n", 1000+id)
						if _, err := m.c.Write([]byte(line)); err != nil {
							return err
						}
					}
					m.c.SetReadDeadline(time.Now().Add(60 * time.Second))
					for got := 0; got < 2; {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return fmt.Errorf("%s round %d, %d of 2 answered: %w", m.worker, r, got, err)
						}
						if bytes.Contains(line, []byte(fmt.Sprintf(`"id":%d,`, 1000+2*r+got))) {
							got++
						}
					}
				}
				return nil
			}()
		}()
	}
	for range k {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitParked(t, px, k)
	eventually(t, "the burst workers gone", func() bool { w, _, q := burstState(px); return w == 0 && q == 0 })
}

// TestBurstCloseMidBurstLeavesNoGoroutine: the proxy closes while burst workers run
// flooders' turns, miners queue for them, blank-line flooders and miners with half a line
// have goroutines of their own that left the pool, and others are parked. Close returns, and
// no worker, reader or resumed reader is left.
func TestBurstCloseMidBurstLeavesNoGoroutine(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr := startProxy(t, shareConfig(paddr), Options{})
	parked := make([]*parkMiner, 2*burstWorkers())
	for i := range parked {
		parked[i] = dialParkMiner(t, addr, fmt.Sprintf("rackX.half%d", i))
	}
	for i := range 10 {
		dialParkMiner(t, addr, fmt.Sprintf("rackX.idle%d", i))
	}
	waitParked(t, px, len(parked)+10)
	for i, m := range parked {
		line := fmt.Sprintf(`{"id":90,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}`, m.worker, m.job, m.en2, m.ntime, 90+i)
		if _, err := m.c.Write([]byte(line[:len(line)/2])); err != nil {
			t.Fatal(err)
		}
	}
	var fs []*flooder
	for i := range 2 * burstWorkers() {
		fs = append(fs, startFlooder(t, addr, fmt.Sprintf("rackX.flood%d", i)))
		fs = append(fs, startFlooderOf(t, addr, fmt.Sprintf("rackX.blank%d", i), strings.Repeat("\n", 16<<10)))
	}
	// The blank-line flooders and half lines have readers of their own; the others take
	// turns on the workers.
	eventually(t, "every flooder and half line being read", func() bool {
		return px.Status().Conns.Parked == 10 && goroutinesIn("(*v1Conn).readLoop") >= len(fs)/2+len(parked)
	})
	closed := make(chan struct{})
	go func() {
		px.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("Close did not return with bursts running")
	}
	for _, fn := range []string{"(*burstPool).work", "(*v1Conn).readLoop", "(*v1Conn).resume", "(*parker).loop"} {
		eventually(t, "no goroutine in "+fn, func() bool { return goroutinesIn(fn) == 0 })
	}
	if w, _, q := burstState(px); w != 0 || q != 0 {
		t.Fatalf("%d burst workers and %d queued miners after Close", w, q)
	}
}

// TestBurstDrainMidBurst: a drain tells every miner to reconnect and closes those that stay
// while burst workers run flooders' turns, blank-line flooders and half-line miners have
// left the pool and others are parked: each is told (the parked and half-line ones read
// client.reconnect), each is closed and removed once, and no worker or reader is left.
func TestBurstDrainMidBurst(t *testing.T) {
	_, paddr := startPool(t, nil)
	px, addr, logs := logProxy(t, shareConfig(paddr), Options{})
	var quiet []*parkMiner
	for i := range 2 * burstWorkers() {
		quiet = append(quiet, dialParkMiner(t, addr, fmt.Sprintf("rackD.half%d", i)))
		quiet = append(quiet, dialParkMiner(t, addr, fmt.Sprintf("rackD.idle%d", i)))
	}
	waitParked(t, px, len(quiet))
	half := 0
	for i, m := range quiet {
		if i%2 == 0 {
			if _, err := m.c.Write([]byte(`{"id":90,"method":"mining.submit","params":["`)); err != nil {
				t.Fatal(err)
			}
			half++
		}
	}
	var fs []*flooder
	for i := range 2 * burstWorkers() {
		fs = append(fs, startFlooder(t, addr, fmt.Sprintf("rackD.flood%d", i)))
		fs = append(fs, startFlooderOf(t, addr, fmt.Sprintf("rackD.blank%d", i), strings.Repeat("\n", 16<<10)))
	}
	// The blank-line flooders and half lines have readers of their own; the others take
	// turns on the workers.
	eventually(t, "every flooder and half line being read", func() bool {
		return px.Status().Conns.Parked == len(quiet)-half && goroutinesIn("(*v1Conn).readLoop") >= len(fs)/2+half
	})
	n := len(quiet) + len(fs)
	if told := px.Drain(context.Background(), 0); told != n {
		t.Fatalf("drain told %d miners, want %d", told, n)
	}
	for i, m := range quiet {
		m.next(func(msg *sv1.Message) bool { return msg.Method == "client.reconnect" })
		m.c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.Copy(io.Discard, m.c); err != nil {
			t.Fatalf("quiet miner %d after the drain: %v", i, err)
		}
	}
	eventually(t, "every miner removed", func() bool { return len(px.Workers()) == 0 })
	eventually(t, "one disconnect logged per miner", func() bool { return logs.count(`"miner disconnected"`) == n })
	for _, fn := range []string{"(*burstPool).work", "(*v1Conn).readLoop", "(*v1Conn).resume"} {
		eventually(t, "no goroutine in "+fn, func() bool { return goroutinesIn(fn) == 0 })
	}
	if w, _, q := burstState(px); w != 0 || q != 0 {
		t.Fatalf("%d burst workers and %d queued miners after the drain", w, q)
	}
	if c := logs.count(`"miner disconnected"`); c != n {
		t.Fatalf("%d disconnects logged for %d miners", c, n)
	}
}

// samplePeak samples f every interval (0: without pause) until the returned stop, which gives
// the largest value seen.
func samplePeak(f func() int, every time.Duration) (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v := int64(f()); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	}()
	return func() int {
		close(done)
		<-sampled
		return int(peak.Load())
	}
}

// shareBurst is per shares of m's job in one write, ids 500 on, nonces from nonce0.
func (m *parkMiner) shareBurst(per, nonce0 int) []byte {
	var b strings.Builder
	for k := range per {
		fmt.Fprintf(&b, `{"id":%d,"method":"mining.submit","params":["%s","%s","%s","%08x","%08x"]}`+"\n", 500+k, m.worker, m.job, m.en2, m.ntime, nonce0+k)
	}
	return []byte(b.String())
}

// allAccepted reads n replies, in any order (a share forwarded to the pool is answered on its
// verdict, after the others), and fails unless each accepts its share.
func (m *parkMiner) allAccepted(n int) {
	m.t.Helper()
	got := map[string]bool{}
	for len(got) < n {
		r := m.next(func(msg *sv1.Message) bool { return msg.IsResponse() && !got[string(msg.ID)] })
		if !r.Accepted() {
			m.t.Fatalf("%s share %s: %s %v", m.worker, r.ID, r.Result, r.Error)
		}
		got[string(r.ID)] = true
	}
}

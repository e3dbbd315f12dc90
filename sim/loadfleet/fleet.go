package loadfleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/noise"
	"github.com/hashgate/hashgate/stratum/sv1"
	"github.com/hashgate/hashgate/stratum/work"
)

// ErrNotReady is returned by Connect when some miners have no job by the deadline.
var ErrNotReady = errors.New("loadfleet: not every miner is ready")

// Fleet is a set of load miners. Create it with New, open the connections with Connect,
// submit with Run, and stop with Close.
type Fleet struct {
	cfg   Config
	log   zerolog.Logger
	epoch time.Time
	track *work.Target

	miners []member
	wg     sync.WaitGroup

	closing   atomic.Bool
	ready     atomic.Int64
	blockSeen atomic.Uint64
	dialPhase atomic.Int64 // nanoseconds Connect spent dialing and handshaking

	notifies notifyCache
	targets  targetCache

	tracker      *Tracker
	replyLatency Histogram
	handshakes   Histogram // V2: TCP connected → Noise handshake done
	noiseCfg     *noise.Config
	stats        counters
}

// counters are the fleet's running totals.
type counters struct {
	submitted, replies, accepted       atomic.Uint64
	rejected                           [8]atomic.Uint64 // by code 20..25, other, no error object
	skipInflight, skipNoJob, skipTries atomic.Uint64
	behind                             atomic.Uint64
	disconnects, dialErrors            atomic.Uint64
	handshakeErrors, malformed         atomic.Uint64
	unknownReplies, earlyNotifies      atomic.Uint64
	jobs, hashes                       atomic.Uint64
	// V2 only.
	rejectedV2                      [len(v2RejectNames)]atomic.Uint64
	noiseHandshakes, setupFails     atomic.Uint64
	successFrames, successBackwards atomic.Uint64
}

func (c *counters) reject(e *sv1.Error) {
	switch {
	case e == nil:
		c.rejected[7].Add(1)
	case e.Code >= 20 && e.Code <= 25:
		c.rejected[e.Code-20].Add(1)
	default:
		c.rejected[6].Add(1)
	}
}

// rejectNames label counters.rejected (codes from sv1.md section 6).
var rejectNames = [8]string{"20_other", "21_stale", "22_duplicate", "23_low_difficulty", "24_unauthorized", "25_not_subscribed", "other_code", "false_without_error"}

// New builds a fleet; it connects nothing until Connect.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg, log: zerolog.Nop(), epoch: cfg.Epoch, tracker: cfg.Tracker}
	if f.epoch.IsZero() {
		f.epoch = time.Now()
	}
	if f.tracker == nil {
		f.tracker = NewTracker()
	}
	if cfg.Logger != nil {
		f.log = *cfg.Logger
	}
	if cfg.TrackDifficulty > 0 {
		t, err := work.TargetFromDifficulty(cfg.TrackDifficulty)
		if err != nil {
			return nil, fmt.Errorf("loadfleet: track difficulty: %w", err)
		}
		f.track = &t
	}
	if cfg.V2Miners > 0 {
		f.noiseCfg = noise.DefaultConfig()
		f.noiseCfg.HandshakeTimeout = cfg.DialTimeout
	}
	f.miners = make([]member, cfg.Miners)
	for i := range f.miners {
		var m member = &loadMiner{}
		if isV2(i, cfg.Miners, cfg.V2Miners) {
			m = &v2Miner{}
		}
		b := m.base()
		b.f, b.idx, b.name = f, i, cfg.UserPrefix+"."+strconv.Itoa(i)
		f.miners[i] = m
	}
	return f, nil
}

// now is nanoseconds since the fleet's epoch on the monotonic clock.
func (f *Fleet) now() int64 { return int64(time.Since(f.epoch)) }

// Now is the fleet's clock: nanoseconds since its epoch (monotonic). A pool-side observer in
// the same process compares its receipt times with Tracker entries on this clock.
func (f *Fleet) Now() int64 { return f.now() }

// Tracker holds the write times of shares meeting TrackDifficulty.
func (f *Fleet) Tracker() *Tracker { return f.tracker }

// ReplyLatency is the distribution of submit-written → reply-read times.
func (f *Fleet) ReplyLatency() *Histogram { return &f.replyLatency }

// HandshakeLatency is the distribution of V2 Noise handshake times (TCP connected → session
// keys), the client's view of what a proxy's handshake costs under the connect burst.
func (f *Fleet) HandshakeLatency() *Histogram { return &f.handshakes }

// Connect dials every miner (DialConcurrency at a time; a V2 miner's slot covers its Noise
// handshake), starts its protocol's opening and waits until every miner has its first job or
// ctx ends. It returns ErrNotReady (wrapped, with counts) if ctx ends first; the miners that
// made it stay connected.
func (f *Fleet) Connect(ctx context.Context) error {
	start := time.Now()
	sem := make(chan struct{}, f.cfg.DialConcurrency)
	var dials sync.WaitGroup
	d := net.Dialer{Timeout: f.cfg.DialTimeout}
	for _, m := range f.miners {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			dials.Wait()
			return fmt.Errorf("%w: connecting: %v", ErrNotReady, ctx.Err())
		}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			b := m.base()
			addr := f.cfg.Addr
			if _, ok := m.(*v2Miner); ok {
				addr = f.cfg.V2Addr
			}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				f.stats.dialErrors.Add(1)
				b.dead.Store(true)
				f.log.Debug().Err(err).Str("worker", b.name).Msg("dial failed")
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			b.conn = c
			if err := m.handshake(ctx); err != nil {
				f.stats.handshakeErrors.Add(1)
				b.dead.Store(true)
				c.Close()
				f.log.Debug().Err(err).Str("worker", b.name).Msg("handshake failed")
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				m.readLoop()
			}()
		}()
	}
	dials.Wait()
	f.dialPhase.Store(int64(time.Since(start)))
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for f.ready.Load() < int64(len(f.miners)) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of %d have a job (%d dial errors, %d handshake errors)", ErrNotReady,
				f.ready.Load(), len(f.miners), f.stats.dialErrors.Load(), f.stats.handshakeErrors.Load())
		case <-t.C:
		}
	}
	return nil
}

// Run submits shares until ctx ends: Pacers goroutines, each owning every Pacers-th miner,
// together aiming at Rate shares per second (or, with Rate 0, as many as the in-flight bound
// lets through).
func (f *Fleet) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for k := 0; k < f.cfg.Pacers; k++ {
		var own []member
		for i := k; i < len(f.miners); i += f.cfg.Pacers {
			own = append(own, f.miners[i])
		}
		if len(own) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.pace(ctx, own, f.cfg.Rate/float64(f.cfg.Pacers))
		}()
	}
	wg.Wait()
}

// pace drives its miners round-robin. Paced, it tops up to rate·elapsed every millisecond;
// shares it cannot place because every miner is at its in-flight bound are dropped from the
// schedule and counted as behind, so a slow proxy does not get a burst later.
func (f *Fleet) pace(ctx context.Context, miners []member, rate float64) {
	start := time.Now()
	var sent int64
	cursor := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for ctx.Err() == nil {
		due := int64(len(miners) * f.cfg.MaxInflight)
		if rate > 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due = int64(rate*time.Since(start).Seconds()) - sent
		}
		skipped := 0
		placed := 0
		for due > 0 && skipped < len(miners) {
			m := miners[cursor]
			cursor++
			if cursor == len(miners) {
				cursor = 0
			}
			switch err := m.submit(); err {
			case nil:
				due--
				sent++
				placed++
				skipped = 0
			case errInflight:
				f.stats.skipInflight.Add(1)
				skipped++
			case errNoJob:
				f.stats.skipNoJob.Add(1)
				skipped++
			case errTries:
				f.stats.skipTries.Add(1)
				skipped++
			default:
				skipped++
			}
		}
		if rate > 0 && due > 0 {
			f.stats.behind.Add(uint64(due))
			sent += due
		}
		if rate == 0 && placed == 0 {
			// Every miner is waiting for replies: give the readers a moment.
			idle.Reset(100 * time.Microsecond)
			select {
			case <-ctx.Done():
				return
			case <-idle.C:
			}
		}
	}
}

// TimeBlock measures how a new block reaches the fleet: it calls trigger (which makes the
// pool move to a new block) and returns, for every miner, the time from just before trigger
// to when that miner read the first notify with the new prevhash. It waits until every live
// miner has it or ctx ends; missing counts the miners that did not.
func (f *Fleet) TimeBlock(ctx context.Context, trigger func()) (lat []time.Duration, missing int) {
	gens := make([]uint64, len(f.miners))
	for i, m := range f.miners {
		gens[i] = m.base().blocks.Load()
	}
	base := f.blockSeen.Load()
	t0 := f.now()
	trigger()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	live := 0
	for _, m := range f.miners {
		if !m.base().dead.Load() {
			live++
		}
	}
wait:
	for f.blockSeen.Load()-base < uint64(live) {
		select {
		case <-ctx.Done():
			break wait
		case <-t.C:
		}
	}
	lat = make([]time.Duration, 0, len(f.miners))
	for i, m := range f.miners {
		b := m.base()
		if b.blocks.Load() == gens[i] {
			missing++
			continue
		}
		lat = append(lat, time.Duration(b.blockAt.Load()-t0))
	}
	return lat, missing
}

// Close closes every connection and waits for the readers.
func (f *Fleet) Close() {
	f.closing.Store(true)
	for _, m := range f.miners {
		if c := m.base().conn; c != nil {
			c.Close()
		}
	}
	f.wg.Wait()
}

// Stats is a snapshot of the fleet's counters.
type Stats struct {
	Miners      int               `json:"miners"`
	Ready       int               `json:"ready"`
	Live        int               `json:"live"`
	Submitted   uint64            `json:"submitted"`
	Replies     uint64            `json:"replies"`
	Accepted    uint64            `json:"accepted"`
	Rejected    map[string]uint64 `json:"rejected"`
	Skipped     map[string]uint64 `json:"skipped"`
	Behind      uint64            `json:"behind_schedule"`
	Disconnects uint64            `json:"disconnects"`
	DialErrors  uint64            `json:"dial_errors"`
	Handshake   uint64            `json:"handshake_errors"`
	Malformed   uint64            `json:"malformed_lines"`
	Unknown     uint64            `json:"unknown_replies"`
	Jobs        uint64            `json:"jobs"`
	Hashes      uint64            `json:"hashes"`
	// DialSeconds is how long Connect took to dial and handshake every miner (before
	// waiting for first jobs).
	DialSeconds float64 `json:"dial_seconds"`
	// V2 only: miners speaking SV2, Noise handshakes completed, SetupConnection or channel
	// refusals, SubmitShares.Success frames (each may acknowledge several shares), and those
	// whose last_sequence_number precedes the one before it on the channel (a late verdict
	// reported after later shares were acknowledged).
	V2Miners         int    `json:"v2_miners,omitempty"`
	NoiseHandshakes  uint64 `json:"noise_handshakes,omitempty"`
	SetupRefused     uint64 `json:"setup_refused,omitempty"`
	SuccessFrames    uint64 `json:"success_frames,omitempty"`
	SuccessBackwards uint64 `json:"success_last_seq_backwards,omitempty"`
}

// RejectedTotal sums Rejected.
func (s *Stats) RejectedTotal() uint64 {
	var n uint64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

// Stats returns the counters now.
func (f *Fleet) Stats() Stats {
	c := &f.stats
	st := Stats{
		Miners: len(f.miners), Ready: int(f.ready.Load()),
		Submitted: c.submitted.Load(), Replies: c.replies.Load(), Accepted: c.accepted.Load(),
		Rejected: map[string]uint64{},
		Skipped: map[string]uint64{
			"inflight_bound": c.skipInflight.Load(), "no_job": c.skipNoJob.Load(), "max_tries": c.skipTries.Load(),
		},
		Behind: c.behind.Load(), Disconnects: c.disconnects.Load(), DialErrors: c.dialErrors.Load(),
		Handshake: c.handshakeErrors.Load(), Malformed: c.malformed.Load(), Unknown: c.unknownReplies.Load(),
		Jobs: c.jobs.Load(), Hashes: c.hashes.Load(),
		V2Miners: f.cfg.V2Miners, NoiseHandshakes: c.noiseHandshakes.Load(), SetupRefused: c.setupFails.Load(),
		SuccessFrames: c.successFrames.Load(), SuccessBackwards: c.successBackwards.Load(), DialSeconds: time.Duration(f.dialPhase.Load()).Seconds(),
	}
	for i := range c.rejected {
		if v := c.rejected[i].Load(); v > 0 {
			st.Rejected[rejectNames[i]] = v
		}
	}
	for i := range c.rejectedV2 {
		if v := c.rejectedV2[i].Load(); v > 0 {
			st.Rejected["sv2_"+v2RejectNames[i]] = v
		}
	}
	for _, m := range f.miners {
		if b := m.base(); b.conn != nil && !b.dead.Load() {
			st.Live++
		}
	}
	return st
}

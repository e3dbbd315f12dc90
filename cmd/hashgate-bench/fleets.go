package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashgate/hashgate/sim/loadfleet"
)

// One fleet dials one proxy address from 127.0.0.1, so the kernel's ephemeral ports (about
// 28,000 by default) cap it. A larger run is split into fleets of at most MinersPerAddress
// miners, each dialing its own proxy listener on its own loopback address (127.0.0.1,
// 127.0.0.2, ...), where the same source ports can be used again.

// listenAddrs are the V1 listen addresses the proxy needs for n fleets.
func listenAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = net.JoinHostPort(fmt.Sprintf("127.0.0.%d", i+1), "0")
	}
	return out
}

// fleetCount is how many fleets carry the run's miners.
func (c *benchConfig) fleetCount() int {
	return (c.Miners + c.MinersPerAddress - 1) / c.MinersPerAddress
}

// fleetSet is the run's fleets, driven as one.
type fleetSet []*loadfleet.Fleet

// newFleetSet splits base.Miners over one fleet per address in addrs, as evenly as whole
// miners allow, each with its share of the rate and its own worker names (load.N, load1.N,
// ...). A fleet's DialConcurrency is base's, at most its miners.
func newFleetSet(base loadfleet.Config, addrs []string) (fleetSet, error) {
	n := len(addrs)
	fs := make(fleetSet, 0, n)
	for i, a := range addrs {
		fc := base
		fc.Miners = base.Miners/n + boolInt(i < base.Miners%n)
		fc.Addr = a
		fc.Rate = base.Rate * float64(fc.Miners) / float64(base.Miners)
		fc.DialConcurrency = min(base.DialConcurrency, fc.Miners)
		if i > 0 {
			fc.UserPrefix = base.UserPrefix + strconv.Itoa(i)
		}
		f, err := loadfleet.New(fc)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Connect connects every fleet at once and returns their errors joined.
func (fs fleetSet) Connect(ctx context.Context) error {
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.Connect(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Run submits from every fleet until ctx ends.
func (fs fleetSet) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Run(ctx)
		}()
	}
	wg.Wait()
}

// TimeBlock times one new block across the fleets: each takes its miners' state and its
// start time, then trigger runs once, after every fleet is armed. A fleet armed before the
// last one counts from its own start, at most the arming of the others (well under a
// millisecond) early.
func (fs fleetSet) TimeBlock(ctx context.Context, trigger func()) ([]time.Duration, int) {
	if len(fs) == 1 {
		return fs[0].TimeBlock(ctx, trigger)
	}
	var armed sync.WaitGroup
	armed.Add(len(fs) - 1)
	fire := make(chan struct{})
	lats := make([][]time.Duration, len(fs))
	missing := make([]int, len(fs))
	var wg sync.WaitGroup
	for i := 1; i < len(fs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[i], missing[i] = fs[i].TimeBlock(ctx, func() {
				armed.Done()
				<-fire
			})
		}()
	}
	lats[0], missing[0] = fs[0].TimeBlock(ctx, func() {
		armed.Wait()
		trigger()
		close(fire)
	})
	wg.Wait()
	var all []time.Duration
	miss := 0
	for i := range fs {
		all = append(all, lats[i]...)
		miss += missing[i]
	}
	return all, miss
}

// ReplyLatency is the first fleet's submit → reply distribution: the fleets' miners are
// alike, so it stands for all of them (histograms do not merge).
func (fs fleetSet) ReplyLatency() *loadfleet.Histogram { return fs[0].ReplyLatency() }

// HandshakeLatency is the first fleet's (SV2 miners are in one fleet).
func (fs fleetSet) HandshakeLatency() *loadfleet.Histogram { return fs[0].HandshakeLatency() }

// Close closes every fleet.
func (fs fleetSet) Close() {
	for _, f := range fs {
		f.Close()
	}
}

// Stats sums the fleets' counters (the dial phase is the longest one's).
func (fs fleetSet) Stats() loadfleet.Stats {
	var s loadfleet.Stats
	s.Rejected, s.Skipped = map[string]uint64{}, map[string]uint64{}
	for _, f := range fs {
		t := f.Stats()
		s.Miners += t.Miners
		s.Ready += t.Ready
		s.Live += t.Live
		s.Submitted += t.Submitted
		s.Replies += t.Replies
		s.Accepted += t.Accepted
		for k, v := range t.Rejected {
			s.Rejected[k] += v
		}
		for k, v := range t.Skipped {
			s.Skipped[k] += v
		}
		s.Behind += t.Behind
		s.Disconnects += t.Disconnects
		s.DialErrors += t.DialErrors
		s.Handshake += t.Handshake
		s.Malformed += t.Malformed
		s.Unknown += t.Unknown
		s.Jobs += t.Jobs
		s.Hashes += t.Hashes
		s.DialSeconds = max(s.DialSeconds, t.DialSeconds)
		s.V2Miners += t.V2Miners
		s.NoiseHandshakes += t.NoiseHandshakes
		s.SetupRefused += t.SetupRefused
		s.SuccessFrames += t.SuccessFrames
		s.SuccessBackwards += t.SuccessBackwards
	}
	return s
}

// stormReport is the reconnect storm: every miner gone at once, and as many new ones dialing
// at once (no dial concurrency bound), until each is subscribed, authorized and has a job.
type stormReport struct {
	Miners      int     `json:"miners"`
	Ready       int     `json:"ready"`
	Seconds     float64 `json:"seconds"`
	DialSeconds float64 `json:"dial_seconds"`
	DialErrors  uint64  `json:"dial_errors"`
	Error       string  `json:"error,omitempty"`
}

// storm closes the fleets and connects fresh ones, like them but dialing all at once.
func (b *bench) storm(ctx context.Context, base loadfleet.Config, addrs []string) (*stormReport, error) {
	b.fleets.Close()
	base.DialConcurrency = base.Miners
	fs, err := newFleetSet(base, addrs)
	if err != nil {
		return nil, err
	}
	b.fleets = fs
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, b.cfg.ConnectTimeout)
	err = fs.Connect(cctx)
	cancel()
	st := fs.Stats()
	r := &stormReport{Miners: base.Miners, Ready: st.Ready, Seconds: time.Since(t0).Seconds(), DialSeconds: st.DialSeconds, DialErrors: st.DialErrors}
	if err != nil {
		r.Error = err.Error()
	}
	return r, nil
}

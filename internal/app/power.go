package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/firmware"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// Power connects the policy runner to the world: meter readings in; the fleet inventory from
// the proxy's connected workers matched to [[fleet]] groups; decisions out through the
// proxy gate and the miners' firmware APIs; every decision and event into the store.
type Power struct {
	runner *policy.Runner
	px     *proxy.Proxy
	st     *store.Store
	groups []policy.FleetGroup
	fw     *firmware.Registry
	log    zerolog.Logger
	// Meters are the running meter sources (push sources are mounted by the console).
	Meters []meter.Source

	mu     sync.Mutex
	known  map[string]minerInfo        // by miner id (worker name)
	last   map[string]store.MinerState // decided before a restart
	meters map[string]*meterState
	fwRes  map[fwKey]uint64
	// applied is each miner's last successfully applied command in this run; it outlives a
	// disconnect so a reconnecting miner is not mistaken for a new one.
	applied map[string]policy.Command
	// warned remembers what was already warned about (a worker matching no fleet group, workers sharing an IP).
	warned map[string]bool
}

type meterState struct {
	cfg      meter.Config
	last     meter.Reading
	good     time.Time
	readings map[string]uint64
}

type fwKey struct{ firmware, command, result string }

type minerInfo struct {
	group  *policy.FleetGroup
	worker string
	ip     netip.Addr
	// sharedIP: other workers connect from the same IP and no address is configured, so the
	// firmware API cannot be found for this one.
	sharedIP bool
}

func startPower(ctx context.Context, cfg policy.Config, groups []policy.FleetGroup, meters []meter.Config, px *proxy.Proxy, st *store.Store, log zerolog.Logger, wg *sync.WaitGroup) (*Power, error) {
	fwc := firmware.DefaultConfig()
	fwc.Logger = log.With().Str("sub", "firmware").Logger()
	fw, err := firmware.NewRegistry(fwc)
	if err != nil {
		return nil, err
	}
	p := &Power{px: px, st: st, groups: groups, fw: fw, log: log.With().Str("sub", "power").Logger(),
		known: map[string]minerInfo{}, meters: map[string]*meterState{}, fwRes: map[fwKey]uint64{},
		applied: map[string]policy.Command{}, warned: map[string]bool{}}
	// A restart resumes the last decisions: miners that were paused stay paused at the gate
	// from the first moment, so the fleet is never briefly released.
	if p.last, err = st.LastStates(ctx); err != nil {
		return nil, fmt.Errorf("store: last states: %w", err)
	}
	for id, s := range p.last {
		if s.Action == policy.ActionPause.String() {
			px.Pause(id)
		}
	}
	p.runner, err = policy.NewRunner(cfg, policy.RunnerOptions{Actuator: p, Audit: audit{st}, Logger: log.With().Str("sub", "policy").Logger()})
	if err != nil {
		return nil, err
	}
	if n, err := restoreManual(ctx, st, p.runner, time.Now()); err != nil {
		return nil, fmt.Errorf("store: operator controls: %w", err)
	} else if n > 0 {
		p.log.Info().Int("controls", n).Msg("operator controls restored from the audit trail")
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := p.runner.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			p.log.Error().Err(err).Msg("policy runner stopped")
		}
	}()
	readings := make(chan meter.Reading, 256)
	for _, mc := range meters {
		src, err := meter.New(mc, log.With().Str("sub", "meter").Str("meter", mc.Name).Logger())
		if err != nil {
			return nil, fmt.Errorf("meter %q: %w", mc.Name, err)
		}
		p.Meters = append(p.Meters, src)
		p.meters[mc.Name] = &meterState{cfg: mc, readings: map[string]uint64{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			src.Run(ctx, readings)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.feed(ctx, readings)
	}()
	go func() {
		defer wg.Done()
		p.syncFleet(ctx)
	}()
	return p, nil
}

// feed passes meter readings to the runner; a reading that is not good counts as a faulty
// meter (NaN), not a late one.
func (p *Power) feed(ctx context.Context, in <-chan meter.Reading) {
	energy := newEnergyLedger(time.Minute, time.Now())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	record := func(ivs []store.EnergyInterval) {
		for _, iv := range ivs {
			if err := p.st.RecordEnergy(ctx, iv); err != nil && ctx.Err() == nil {
				p.log.Warn().Err(err).Msg("energy interval not recorded")
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			record(energy.setBudget(p.runner.Basis().BudgetKW, now))
		case r := <-in:
			role, err := policy.ParseRole(string(r.Role))
			if err != nil {
				continue
			}
			// A device clock far ahead must not lock the meter out (readings only move
			// forward) or close thousands of energy intervals: trust our own clock then.
			if now := time.Now(); r.At.After(now.Add(maxMeterSkew)) || r.At.IsZero() {
				r.At = now
			}
			v := r.Value
			switch {
			case r.Quality == meter.QualityUnavailable:
				// One missed poll is not nonsense: staleness (stale_after) covers silence.
				p.countReading(r)
				continue
			case !r.OK():
				v = math.NaN() // garbage from a meter: a fault, the fleet goes to the safe floor
			}
			p.countReading(r)
			pr := policy.Reading{Role: role, Value: v, At: r.At}
			p.runner.Observe(pr)
			if r.Role.IsPower() {
				record(energy.observe(pr))
			}
		}
	}
}

// maxMeterSkew is how far ahead of our clock a meter's timestamp may be.
const maxMeterSkew = time.Minute

func (p *Power) countReading(r meter.Reading) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ms := p.meters[r.Meter]; ms != nil {
		ms.last = r
		ms.readings[r.Quality.String()]++
		if r.OK() {
			ms.good = r.At
		}
	}
}

// syncFleet keeps the runner's fleet equal to the connected workers that match a group.
func (p *Power) syncFleet(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		p.syncOnce()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Power) syncOnce() {
	seen := map[string]bool{}
	workers := p.px.Identities()
	// Several workers from one IP (NAT, a farm proxy) cannot be told apart at that IP's
	// firmware port: without an explicit address they get the gate only, never a command
	// meant for another machine.
	perIP := map[string]int{}
	for _, w := range workers {
		if host, _, err := net.SplitHostPort(w.Remote); err == nil {
			perIP[host]++
		}
	}
	for _, w := range workers {
		if w.Worker == "" {
			continue
		}
		host, _, _ := net.SplitHostPort(w.Remote)
		ip, _ := netip.ParseAddr(host)
		g, ok := policy.MatchGroup(p.groups, w.Worker, ip)
		if !ok {
			// Not controlled: it mines at whatever power it draws. Say so once, loudly
			// enough that a mistyped worker name is found.
			p.mu.Lock()
			if !p.warned["fleet:"+w.Worker] {
				p.warned["fleet:"+w.Worker] = true
				p.log.Warn().Str("worker", w.Worker).Str("remote", w.Remote).Msg("worker matches no [[fleet]] group: the power policy does not control it")
			}
			p.mu.Unlock()
			continue
		}
		seen[w.Worker] = true
		p.mu.Lock()
		_, had := p.known[w.Worker]
		_, explicit := g.Addresses[w.Worker]
		shared := perIP[host] > 1 && !explicit
		if shared && !p.warned["nat:"+w.Worker] {
			p.warned["nat:"+w.Worker] = true
			p.log.Warn().Str("worker", w.Worker).Str("ip", host).Msg("several workers connect from this IP: firmware control needs an explicit [fleet.addresses] entry; gating only")
		}
		p.known[w.Worker] = minerInfo{group: g, worker: w.Worker, ip: ip, sharedIP: shared}
		if had {
			p.mu.Unlock()
			continue
		}
		// What this miner was last commanded: applied in this run (it reconnected), else
		// what the previous run decided (once, at its first connection after a restart).
		cmd, hasCmd := p.applied[w.Worker]
		if last, ok := p.last[w.Worker]; ok && !hasCmd {
			if a, err := parseAction(last.Action); err == nil {
				cmd, hasCmd = policy.Command{Action: a, TargetKW: last.TargetKW, Since: last.Time}, true
			}
		}
		delete(p.last, w.Worker)
		p.mu.Unlock()
		m := g.NewMiner(w.Worker, w.Worker)
		if hasCmd {
			m.Commanded = cmd
		}
		p.runner.UpsertMiner(m)
	}
	p.mu.Lock()
	var gone []string
	for id := range p.known {
		if !seen[id] {
			gone = append(gone, id)
			delete(p.known, id)
		}
	}
	p.mu.Unlock()
	for _, id := range gone {
		p.runner.RemoveMiner(id)
	}
}

func parseAction(s string) (policy.Action, error) {
	for a := policy.ActionUnknown; a <= policy.ActionThrottle; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q", s)
}

// Apply implements policy.Actuator: the gate acts at once, then the firmware, which is what
// actually cuts an ASIC's power (a paused job stream alone does not).
func (p *Power) Apply(ctx context.Context, d policy.Decision) error {
	p.mu.Lock()
	info, ok := p.known[d.MinerID]
	p.mu.Unlock()
	if d.Action == policy.ActionPause {
		p.px.Pause(d.MinerID) // at once: no new work while the firmware winds down
	}
	var err error
	if ok && !info.sharedIP && info.group.Firmware != policy.Firmware(firmware.None) && info.group.Firmware != "" {
		var drv firmware.Driver
		if drv, err = p.fw.Driver(string(info.group.Firmware)); err == nil {
			t := firmware.Target{ID: d.MinerID, Addr: p.address(info), Username: info.group.Username, Password: info.group.Password}
			err = p.command(ctx, drv, t, d, info)
			p.countFirmware(string(info.group.Firmware), d.Action, err)
		}
	}
	if err != nil {
		return err // the gate stays as it was; the runner re-decides the miner as unknown
	}
	if d.Action != policy.ActionPause {
		p.px.Resume(d.MinerID) // jobs flow once the firmware is awake
	}
	p.mu.Lock()
	p.applied[d.MinerID] = policy.Command{Action: d.Action, TargetKW: d.TargetKW, Since: time.Now()}
	p.mu.Unlock()
	return nil
}

func (p *Power) countFirmware(fw string, a policy.Action, err error) {
	cmd := map[policy.Action]string{policy.ActionPause: "sleep", policy.ActionRun: "wake", policy.ActionThrottle: "set_power_target"}[a]
	res := "ok"
	switch {
	case err == nil:
	case errors.Is(err, firmware.ErrUnsupported):
		res = "unsupported"
	case errors.Is(err, firmware.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		res = "timeout"
	case errors.Is(err, firmware.ErrNotConfirmed):
		res = "not_confirmed"
	default:
		res = "error"
	}
	p.mu.Lock()
	p.fwRes[fwKey{fw, cmd, res}]++
	p.mu.Unlock()
}

func (p *Power) firmwareResults() []console.FirmwareResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]console.FirmwareResult, 0, len(p.fwRes))
	for k, n := range p.fwRes {
		out = append(out, console.FirmwareResult{Firmware: k.firmware, Command: k.command, Result: k.result, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Firmware+a.Command+a.Result < b.Firmware+b.Command+b.Result
	})
	return out
}

func (p *Power) meterStatus(now time.Time, staleAfter time.Duration) []console.MeterStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]console.MeterStatus, 0, len(p.meters))
	for name, ms := range p.meters {
		role, _ := policy.ParseRole(string(ms.cfg.Role))
		kind := string(ms.cfg.Source)
		if ms.cfg.Source == meter.KindHTTP {
			kind = "http_poll"
			if ms.cfg.PushToken != "" {
				kind = "http_push"
			}
		}
		st := console.MeterStatus{Name: name, Role: role, Kind: kind, Value: ms.last.Value, At: ms.good,
			Quality: ms.last.Quality.String(), Stale: ms.good.IsZero() || now.Sub(ms.good) > staleAfter, Readings: maps.Clone(ms.readings)}
		if ms.last.At.IsZero() {
			st.Quality = "none"
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (p *Power) command(ctx context.Context, drv firmware.Driver, t firmware.Target, d policy.Decision, info minerInfo) error {
	switch d.Action {
	case policy.ActionPause:
		return drv.Sleep(ctx, t)
	case policy.ActionRun:
		if err := drv.Wake(ctx, t); err != nil {
			return err
		}
		if info.group.MinKW > 0 {
			// Back to full power after a throttle.
			return drv.SetPowerTarget(ctx, t, int(info.group.RatedKW*1000))
		}
		return nil
	case policy.ActionThrottle:
		if err := drv.Wake(ctx, t); err != nil {
			return err
		}
		err := drv.SetPowerTarget(ctx, t, int(d.TargetKW*1000))
		if (errors.Is(err, firmware.ErrUnsupported) || errors.Is(err, firmware.ErrOutOfRange)) && d.TargetKW < d.FromKW {
			// A shed that cannot be a throttle must still shed: sleep the miner and tell the
			// runner (it will see the miner as unknown and decide again).
			if serr := drv.Sleep(ctx, t); serr == nil {
				p.px.Pause(d.MinerID)
				return fmt.Errorf("throttle to %.2f kW not possible (%w); miner put to sleep", d.TargetKW, err)
			}
		}
		return err
	}
	return nil
}

// address is where the miner's firmware API listens: a configured address, else the IP its
// stratum connection comes from on the firmware's (or the group's) port.
func (p *Power) address(i minerInfo) string {
	if a, ok := i.group.Addresses[i.worker]; ok {
		return a
	}
	port := i.group.Port
	if port == 0 {
		port = firmware.DefaultPort(string(i.group.Firmware))
	}
	return net.JoinHostPort(i.ip.String(), strconv.Itoa(port))
}

// audit stores the runner's decisions and events durably, a round at a time.
type audit struct{ st *store.Store }

var _ policy.BatchAudit = audit{}

func storeDecision(d policy.Decision) store.Decision {
	inputs, _ := json.Marshal(d.Basis)
	return store.Decision{
		Time: d.Basis.At, MinerID: d.MinerID, Action: d.Action.String(), TargetKW: d.TargetKW,
		ReasonCode: d.Reason.String(), Reason: d.Reason.Text(), Inputs: inputs,
	}
}

func storeEvent(ev policy.Event) store.Event {
	detail, _ := json.Marshal(ev)
	return store.Event{Time: ev.At, Kind: "policy." + ev.Kind.String(), Subject: ev.Decision.MinerID, Detail: detail}
}

func (a audit) RecordDecision(ctx context.Context, d policy.Decision) error {
	return a.st.RecordDecisions(ctx, storeDecision(d))
}

func (a audit) RecordEvent(ctx context.Context, ev policy.Event) error {
	if ev.Kind == policy.EventDecision {
		return nil // recorded as a decision
	}
	_, err := a.st.RecordEvent(ctx, storeEvent(ev))
	return err
}

func (a audit) RecordBatch(ctx context.Context, ds []policy.Decision, evs []policy.Event) error {
	sd := make([]store.Decision, len(ds))
	for i, d := range ds {
		sd[i] = storeDecision(d)
	}
	se := make([]store.Event, 0, len(evs))
	for _, ev := range evs {
		if ev.Kind != policy.EventDecision {
			se = append(se, storeEvent(ev))
		}
	}
	return a.st.RecordAudit(ctx, sd, se)
}

// Runner is the policy runner (for its snapshot, event stream and manual controls).
func (p *Power) Runner() *policy.Runner { return p.runner }

package firmware

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// CommandKind is what a Job asks of a miner.
type CommandKind uint8

// Command kinds.
const (
	CmdStatus CommandKind = iota
	CmdSleep
	CmdWake
	CmdSetPowerTarget
)

func (k CommandKind) String() string {
	switch k {
	case CmdStatus:
		return "status"
	case CmdSleep:
		return "sleep"
	case CmdWake:
		return "wake"
	case CmdSetPowerTarget:
		return "set_power_target"
	default:
		return fmt.Sprintf("command(%d)", uint8(k))
	}
}

// Command is one instruction; Watts is used by CmdSetPowerTarget only.
type Command struct {
	Kind  CommandKind
	Watts int
}

// Job sends one command to one miner through its driver.
type Job struct {
	Driver  Driver
	Target  Target
	Command Command
}

// Result is the outcome for one miner, as the audit trail records it.
type Result struct {
	Target   Target
	Firmware string
	Command  Command
	// Err is nil when the command was confirmed by read-back.
	Err error
	// Attempts counts tries, including the successful one.
	Attempts int
	// Status is filled for CmdStatus.
	Status Status
	Start  time.Time
	End    time.Time
}

// Sink receives each Result as soon as its miner is done. Calls are
// serialised, so a sink need not lock; it should be quick (hand the result
// to a bounded queue) because workers wait for it.
type Sink func(Result)

// DispatcherConfig tunes a Dispatcher. A nil *DispatcherConfig means
// DefaultDispatcherConfig().
type DispatcherConfig struct {
	// Concurrency bounds the commands in flight at once.
	Concurrency int
	// Timeout bounds one attempt of one command, read-back included.
	Timeout time.Duration
	// Attempts is the maximum number of tries per miner (1 = no retry).
	Attempts int
	// BackoffBase is the wait before the second try; it doubles per try.
	BackoffBase time.Duration
	// BackoffMax caps the wait between tries.
	BackoffMax time.Duration
	// Clock times the backoff; nil means the wall clock.
	Clock Clock
	// Logger receives per-miner failures; the zero value discards them.
	Logger zerolog.Logger
}

// DefaultDispatcherConfig suits a site of thousands of miners: 256 in
// flight, 30 s per attempt (stock Antminer CGI can take ~21 s to answer),
// 3 tries with 1 s, 2 s backoff.
func DefaultDispatcherConfig() *DispatcherConfig {
	return &DispatcherConfig{
		Concurrency: 256,
		Timeout:     30 * time.Second,
		Attempts:    3,
		BackoffBase: time.Second,
		BackoffMax:  10 * time.Second,
		Clock:       SystemClock{},
		Logger:      zerolog.Nop(),
	}
}

// Validate reports a configuration that cannot work.
func (c *DispatcherConfig) Validate() error {
	var errs []error
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("Concurrency must be at least 1"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("Timeout must be positive"))
	}
	if c.Attempts < 1 {
		errs = append(errs, errors.New("Attempts must be at least 1"))
	}
	if c.BackoffBase < 0 || c.BackoffMax < c.BackoffBase {
		errs = append(errs, errors.New("need 0 <= BackoffBase <= BackoffMax"))
	}
	return errors.Join(errs...)
}

// Dispatcher sends commands to many miners in parallel.
type Dispatcher struct {
	cfg  DispatcherConfig
	sink Sink
	mu   sync.Mutex // serialises sink calls
}

// NewDispatcher returns a dispatcher; sink may be nil.
func NewDispatcher(cfg *DispatcherConfig, sink Sink) (*Dispatcher, error) {
	if cfg == nil {
		cfg = DefaultDispatcherConfig()
	}
	c := *cfg
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("dispatcher config: %w", err)
	}
	return &Dispatcher{cfg: c, sink: sink}, nil
}

// Dispatch runs every job and returns one Result per job, in job order.
// It returns when all are done; cancelling ctx stops retries and in-flight
// I/O, and the remaining jobs report ctx's error.
func (d *Dispatcher) Dispatch(ctx context.Context, jobs []Job) []Result {
	results := make([]Result, len(jobs))
	workers := min(d.cfg.Concurrency, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = d.run(ctx, jobs[i])
				if d.sink != nil {
					d.mu.Lock()
					d.sink(results[i])
					d.mu.Unlock()
				}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// run executes one job with retries and backoff.
func (d *Dispatcher) run(ctx context.Context, j Job) Result {
	res := Result{Target: j.Target, Command: j.Command, Start: d.cfg.Clock.Now()}
	if j.Driver == nil {
		res.Err, res.End = fmt.Errorf("%w: no driver", ErrUnknownFirmware), res.Start
		return res
	}
	res.Firmware = j.Driver.Firmware()
	wait := d.cfg.BackoffBase
	for {
		res.Attempts++
		res.Status, res.Err = d.attempt(ctx, j)
		if res.Err == nil || !Retriable(res.Err) || res.Attempts >= d.cfg.Attempts || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-d.cfg.Clock.After(wait):
		}
		wait = min(wait*2, d.cfg.BackoffMax)
	}
	res.End = d.cfg.Clock.Now()
	if res.Err != nil {
		d.cfg.Logger.Warn().Str("miner", j.Target.ID).Str("addr", j.Target.Addr).Str("firmware", res.Firmware).
			Stringer("cmd", j.Command.Kind).Int("attempts", res.Attempts).Err(res.Err).Msg("firmware command failed")
	}
	return res
}

func (d *Dispatcher) attempt(ctx context.Context, j Job) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, err
	}
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var st Status
	var err error
	switch j.Command.Kind {
	case CmdStatus:
		st, err = j.Driver.Status(actx, j.Target)
	case CmdSleep:
		err = j.Driver.Sleep(actx, j.Target)
	case CmdWake:
		err = j.Driver.Wake(actx, j.Target)
	case CmdSetPowerTarget:
		err = j.Driver.SetPowerTarget(actx, j.Target, j.Command.Watts)
	default:
		err = fmt.Errorf("%w: %s", ErrUnsupported, j.Command.Kind)
	}
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = netErr(err)
		if !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
	}
	return st, err
}

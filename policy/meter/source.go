package meter

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Source is one meter. Run reads the meter until ctx is done, sending readings on out; it
// returns nil once ctx is done, and an error only if the source cannot run at all. Run must be
// called at most once. Sends on out never block: when out is full the reading is dropped and
// counted in Stats.DroppedFull.
type Source interface {
	Name() string
	Role() Role
	Run(ctx context.Context, out chan<- Reading) error
	Stats() Stats
}

// Stats counts what a source did. All counters only grow.
type Stats struct {
	Good        uint64 // good readings delivered
	Invalid     uint64 // QualityInvalid readings delivered
	Unavailable uint64 // QualityUnavailable readings delivered
	// DroppedFull counts readings dropped because the consumer's channel was full
	// (policy: drop the newest; the next poll brings a fresher value anyway).
	DroppedFull uint64
	Reconnects  uint64 // connections (re)established after the first
	// PushRejected counts pushes refused by the HTTP push endpoint (auth, size, syntax, queue full).
	PushRejected uint64
}

// Option adjusts how New builds a source.
type Option func(*options)

type options struct {
	clock      Clock
	httpClient *http.Client
}

// WithClock injects the clock used for polling, trace playback, backoff and receive times.
// The default is SystemClock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithHTTPClient sets the client of an HTTP poll source. The default is a client with no
// overall timeout; each request is bounded by the meter's timeout key.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// New validates cfg and builds its source. An HTTP meter with push_token returns a
// *PushSource, which is also the http.Handler to mount at the push URL.
func New(cfg Config, logger zerolog.Logger, opts ...Option) (Source, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{clock: SystemClock{}, httpClient: &http.Client{}}
	for _, opt := range opts {
		opt(&o)
	}
	b := base{
		cfg:      cfg,
		log:      logger.With().Str("meter", cfg.Name).Str("source", string(cfg.Source)).Logger(),
		clock:    o.clock,
		counters: new(counters),
	}
	switch cfg.Source {
	case KindModbus:
		return newModbusSource(b)
	case KindMQTT:
		return newMQTTSource(b)
	case KindHTTP:
		if cfg.PushToken != "" {
			return newPushSource(b), nil
		}
		return newPollSource(b, o.httpClient), nil
	case KindSim:
		return newSimSource(b)
	}
	return nil, fmt.Errorf("%w: source %q", ErrConfig, cfg.Source)
}

// base holds what every source shares: its config, logger, clock and counters.
type base struct {
	cfg   Config
	log   zerolog.Logger
	clock Clock
	*counters
}

// counters sit behind a pointer so a base can be passed by value while it is built.
type counters struct {
	good, invalid, unavailable, dropped, reconnects, pushRejected atomic.Uint64
}

func (b *base) Name() string { return b.cfg.Name }
func (b *base) Role() Role   { return b.cfg.Role }

func (b *base) Stats() Stats {
	return Stats{
		Good:         b.good.Load(),
		Invalid:      b.invalid.Load(),
		Unavailable:  b.unavailable.Load(),
		DroppedFull:  b.dropped.Load(),
		Reconnects:   b.reconnects.Load(),
		PushRejected: b.pushRejected.Load(),
	}
}

// good builds a good reading from a raw device value, converting units. A value that is not
// finite after conversion becomes an invalid reading.
func (b *base) reading(raw float64, at time.Time) Reading {
	v := b.cfg.toOutput(raw)
	if !finite(v) {
		return b.failed(QualityInvalid, fmt.Errorf("%w: %v", ErrNotFinite, v), at)
	}
	return Reading{Meter: b.cfg.Name, Role: b.cfg.Role, Value: v, At: at, Quality: QualityGood}
}

// failed builds a reading that carries no value.
func (b *base) failed(q Quality, err error, at time.Time) Reading {
	return Reading{Meter: b.cfg.Name, Role: b.cfg.Role, At: at, Quality: q, Err: err}
}

// emit delivers r without blocking; see Stats.DroppedFull for the drop policy.
func (b *base) emit(out chan<- Reading, r Reading) {
	select {
	case out <- r:
	default:
		b.dropped.Add(1)
		b.log.Debug().Str("quality", r.Quality.String()).Msg("consumer queue full, reading dropped")
		return
	}
	switch r.Quality {
	case QualityGood:
		b.good.Add(1)
	case QualityInvalid:
		b.invalid.Add(1)
	default:
		b.unavailable.Add(1)
	}
}

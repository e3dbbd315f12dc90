package store

import (
	"errors"
	"fmt"
	"time"
)

// Config configures a Store. It is the `[store]` table of hashgate.toml. The
// zero value of a field is not its default: start from DefaultConfig.
type Config struct {
	// Path is the SQLite database file. Its directory must exist.
	Path string `toml:"path"`

	// Retention is how long decisions, events, energy intervals and share
	// rollups are kept. Zero keeps them forever.
	Retention time.Duration `toml:"retention"`

	// MinuteRollupRetention is how long the share rollup keeps per-minute
	// rows. Older minutes are folded into per-hour rows, kept for
	// Retention: at 10,000 workers a day of minutes is ~30 million rows
	// (about 4 GB), of hours 60 times fewer. Zero keeps minutes for all of
	// Retention.
	MinuteRollupRetention time.Duration `toml:"minute_rollup_retention"`

	// ShareRetention is how long raw share-ledger rows are kept; they are
	// by far the largest table, so it is usually shorter than Retention.
	// Zero keeps them forever.
	ShareRetention time.Duration `toml:"share_retention"`

	// ShareMaxRows caps the raw share-ledger rows, whatever their age, so
	// that the file stays bounded at any share rate: past it the oldest
	// rows go first, soon after the writer commits past it rather than at
	// the next PruneInterval. Rows of block candidates, pool rejections and
	// shares the pool never answered (block_candidate, pool_rejected,
	// pool_unknown) are exempt and kept for ShareRetention: they are what a
	// dispute with the pool or a lost block needs. The per-minute rollup
	// counts every share either way. Zero means no cap.
	ShareMaxRows int64 `toml:"share_max_rows"`

	// PruneInterval makes the store run Prune itself at this period.
	// Zero means the caller runs Prune.
	PruneInterval time.Duration `toml:"prune_interval"`

	// BusyTimeout is how long a write waits for another process holding
	// the database lock before failing with SQLITE_BUSY.
	BusyTimeout time.Duration `toml:"busy_timeout"`

	// QueueSize is the capacity of each share queue (lossy and lossless).
	QueueSize int `toml:"queue_size"`

	// MaxBatch is the most share events committed in one transaction. A
	// durable audit write waits for at most one such transaction, so this
	// bounds audit latency under share load as well as batching gains.
	MaxBatch int `toml:"max_batch"`

	// FlushInterval is how long the writer waits for more events after
	// the first one of a batch before committing.
	FlushInterval time.Duration `toml:"flush_interval"`

	// OverflowKeys caps the distinct (minute, worker, pool, result,
	// reason) keys kept in memory for shed share events awaiting the
	// writer. Beyond it a shed event is lost entirely and counted.
	OverflowKeys int `toml:"overflow_keys"`

	// ReadConns is the number of read-only connections for queries.
	ReadConns int `toml:"read_conns"`

	// Clock supplies time for retention and the prune loop. Nil means the
	// system clock.
	Clock Clock `toml:"-"`
}

// DefaultConfig returns the configuration used when a field is not set in
// hashgate.toml.
func DefaultConfig() Config {
	return Config{
		Path:                  "hashgate.db",
		Retention:             30 * 24 * time.Hour,
		MinuteRollupRetention: 2 * 24 * time.Hour,
		ShareRetention:        3 * 24 * time.Hour,
		ShareMaxRows:          20_000_000,
		PruneInterval:         time.Hour,
		BusyTimeout:           5 * time.Second,
		QueueSize:             65536,
		MaxBatch:              1024,
		FlushInterval:         50 * time.Millisecond,
		OverflowKeys:          4096,
		ReadConns:             4,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("store: invalid config")

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Path == "":
		return bad("path is empty")
	case c.Retention < 0:
		return bad("retention %v is negative", c.Retention)
	case c.MinuteRollupRetention < 0:
		return bad("minute_rollup_retention %v is negative", c.MinuteRollupRetention)
	case c.Retention > 0 && c.MinuteRollupRetention > c.Retention:
		return bad("minute_rollup_retention %v exceeds retention %v", c.MinuteRollupRetention, c.Retention)
	case c.ShareRetention < 0:
		return bad("share_retention %v is negative", c.ShareRetention)
	case c.Retention > 0 && c.ShareRetention > c.Retention:
		return bad("share_retention %v exceeds retention %v", c.ShareRetention, c.Retention)
	case c.ShareMaxRows < 0:
		return bad("share_max_rows %d is negative", c.ShareMaxRows)
	case c.PruneInterval < 0:
		return bad("prune_interval %v is negative", c.PruneInterval)
	case c.PruneInterval > 0 && c.PruneInterval < time.Second:
		return bad("prune_interval %v is under 1s", c.PruneInterval)
	case c.BusyTimeout < 0:
		return bad("busy_timeout %v is negative", c.BusyTimeout)
	case c.QueueSize < 1:
		return bad("queue_size %d must be at least 1", c.QueueSize)
	case c.MaxBatch < 1:
		return bad("max_batch %d must be at least 1", c.MaxBatch)
	case c.FlushInterval < 0:
		return bad("flush_interval %v is negative", c.FlushInterval)
	case c.OverflowKeys < 0:
		return bad("overflow_keys %d is negative", c.OverflowKeys)
	case c.ReadConns < 1:
		return bad("read_conns %d must be at least 1", c.ReadConns)
	}
	return nil
}

// Clock is the store's source of time. Tests inject a manual clock so that
// retention and the prune loop run without sleeping.
type Clock interface {
	Now() time.Time
	// After behaves like time.After.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

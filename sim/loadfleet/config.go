package loadfleet

import (
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/hashgate/hashgate/stratum/noise"
)

// Config describes a fleet.
type Config struct {
	// Addr is the proxy's (or pool's) Stratum V1 port, host:port; needed when any miner
	// speaks V1.
	Addr string
	// Miners is how many connections the fleet opens.
	Miners int
	// V2Miners is how many of Miners speak Stratum V2 to V2Addr (Noise NX, SetupConnection,
	// one mining channel) instead of V1 to Addr; they are spread evenly among the V1 ones.
	V2Miners int
	// V2Addr is the proxy's (or pool's) Stratum V2 port, host:port.
	V2Addr string
	// Authority is the key the V2 server's certificate must be signed by: the fleet's
	// miners pin it, as devices pin their pool's published key.
	Authority noise.AuthorityPublicKey
	// V2Standard makes V2 miners open standard channels (header-only mining, the proxy
	// rolls the extranonce) instead of extended ones.
	V2Standard bool
	// UserPrefix names the workers: <UserPrefix>.<index>.
	UserPrefix string
	// Rate is the fleet's total target of shares per second; 0 submits as fast as the
	// in-flight bound allows (closed loop).
	Rate float64
	// MaxInflight bounds the submits one miner has awaiting a reply; a pacer skips (and
	// counts) a miner at the bound, so a slow proxy shows up as skips, not as a queue.
	MaxInflight int
	// Pacers is the number of goroutines writing submits; each owns a share of the miners.
	Pacers int
	// DialConcurrency bounds connection attempts in flight while connecting.
	DialConcurrency int
	// DialTimeout bounds one TCP connect.
	DialTimeout time.Duration
	// TrackDifficulty, when > 0, records the write time of every share that meets this
	// difficulty (usually the pool's) in the Tracker.
	TrackDifficulty float64
	// MaxTries bounds the headers hashed for one share when the miner's target is not the
	// easiest possible one; a miner that exhausts it skips the turn (counted).
	MaxTries int
	// Epoch is the origin of the fleet's clock (zero: when New runs). An observer that
	// shares it can compare its own timestamps with the fleet's.
	Epoch time.Time
	// Tracker receives the tracked shares (nil: a new one).
	Tracker *Tracker
	// Logger receives connection-level logs (default: discard).
	Logger *zerolog.Logger
}

// DefaultConfig is a 1,000-miner closed-loop fleet.
func DefaultConfig() Config {
	return Config{
		Miners:          1000,
		UserPrefix:      "load",
		MaxInflight:     4,
		Pacers:          2,
		DialConcurrency: 256,
		DialTimeout:     10 * time.Second,
		MaxTries:        1 << 12,
	}
}

// Validate reports the first unusable field.
func (c *Config) Validate() error {
	switch {
	case c.Miners < 1:
		return errors.New("loadfleet: miners must be >= 1")
	case c.V2Miners < 0 || c.V2Miners > c.Miners:
		return errors.New("loadfleet: v2 miners must be in [0, miners]")
	case c.V2Miners < c.Miners && c.Addr == "":
		return errors.New("loadfleet: addr must be set for V1 miners")
	case c.V2Miners > 0 && c.V2Addr == "":
		return errors.New("loadfleet: v2 addr must be set for V2 miners")
	case c.V2Miners > 0 && c.Authority == (noise.AuthorityPublicKey{}):
		return errors.New("loadfleet: v2 miners need the authority public key")
	case c.UserPrefix == "":
		return errors.New("loadfleet: user prefix must be set")
	case c.Rate < 0:
		return errors.New("loadfleet: rate must be >= 0")
	case c.MaxInflight < 1:
		return errors.New("loadfleet: max inflight must be >= 1")
	case c.Pacers < 1:
		return errors.New("loadfleet: pacers must be >= 1")
	case c.DialConcurrency < 1:
		return errors.New("loadfleet: dial concurrency must be >= 1")
	case c.DialTimeout <= 0:
		return errors.New("loadfleet: dial timeout must be > 0")
	case c.TrackDifficulty < 0:
		return errors.New("loadfleet: track difficulty must be >= 0")
	case c.MaxTries < 1:
		return errors.New("loadfleet: max tries must be >= 1")
	}
	for _, b := range []byte(c.UserPrefix) {
		if b <= 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			return errors.New("loadfleet: user prefix must be printable ASCII without JSON-escaped characters")
		}
	}
	return nil
}

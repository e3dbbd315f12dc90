package proxy

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashgate/hashgate/internal/tomltime"
	"github.com/hashgate/hashgate/stratum/work"
)

// Duration is a config duration ("30s").
type Duration = tomltime.Duration

// ListenerConfig is one `[[listener]]`.
type ListenerConfig struct {
	// Protocol is "sv1" (Stratum V1 over TCP, or over TLS with TLSCertFile and TLSKeyFile) or
	// "sv2" (Stratum V2 over Noise).
	Protocol string `toml:"protocol"`
	// Address is host:port to listen on.
	Address string `toml:"address"`
	// KeyFile is the SV2 static key + certificate made by `hashgate keygen` (sv2 only).
	KeyFile string `toml:"key_file"`
	// TLSCertFile and TLSKeyFile make an sv1 listener speak TLS (miners use
	// stratum+ssl://host:port): a PEM certificate chain and its key, read again when they
	// change so a renewal needs no restart.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
}

// PoolConfig is one `[[pool]]`.
type PoolConfig struct {
	Name     string `toml:"name"`
	URL      string `toml:"url"`
	User     string `toml:"user"`
	Password string `toml:"password"`
	// Priority orders failover: the lowest healthy priority mines.
	Priority int `toml:"priority"`
	// Weight splits the miners' time between the healthy pools of the mining priority that
	// have one, in proportion (30 and 70: 30 % and 70 %). 0 (the default): the pool takes no
	// part in a split; with fewer than two weighted pools up, the first healthy pool of the
	// priority mines alone.
	Weight float64 `toml:"weight"`
}

// validate checks one pool on its own (names across pools are Validate's and ValidatePools'
// to compare); key is how the config file names it, pool[2].
func (pc PoolConfig) validate(key string) error {
	if pc.Name == "" {
		return fmt.Errorf("%s.name: must be set", key)
	}
	if len(pc.Name) > 64 {
		return fmt.Errorf("%s.name: at most 64 characters", key)
	}
	if _, err := ParseEndpoint(pc.URL); err != nil {
		return fmt.Errorf("%s.url: %v", key, err)
	}
	if pc.User == "" {
		return fmt.Errorf("%s.user: must be set", key)
	}
	if !(pc.Weight >= 0) || math.IsInf(pc.Weight, 1) {
		return fmt.Errorf("%s.weight: must be a finite number >= 0, got %v", key, pc.Weight)
	}
	return nil
}

// Endpoint is a parsed pool URL.
type Endpoint struct {
	Scheme string // stratum+tcp, stratum+ssl, stratum2+tcp
	Host   string // host:port
	TLS    bool
	V2     bool
	// AuthorityKey is the base58check authority public key of an SV2 pool.
	AuthorityKey string
}

// ParseEndpoint parses stratum+tcp://host:port, stratum+ssl://host:port (also stratum+tls) and
// stratum2+tcp://host:port/<authority-pubkey-base58>.
func ParseEndpoint(s string) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole URL, password included if it has one.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Endpoint{}, err
	}
	// A password in the URL would show wherever the URL does (audit, logs, API pool rows).
	if u.User != nil {
		return Endpoint{}, errors.New("URL must not carry user info (user:password@); set the pool's user and password keys instead")
	}
	e := Endpoint{Scheme: u.Scheme, Host: u.Host}
	switch u.Scheme {
	case "stratum+tcp":
	case "stratum+ssl", "stratum+tls":
		e.TLS = true
	case "stratum2+tcp":
		e.V2 = true
		e.AuthorityKey = strings.Trim(u.Path, "/")
		if e.AuthorityKey == "" {
			return e, errors.New("stratum2+tcp URL needs the pool's authority key as its path")
		}
	default:
		return e, fmt.Errorf("unsupported scheme %q (want stratum+tcp, stratum+ssl or stratum2+tcp)", u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return e, fmt.Errorf("URL needs host:port, got %q", u.Host)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return e, fmt.Errorf("bad port %q", port)
	}
	return e, nil
}

// DifficultyConfig is `[difficulty]`: per-miner vardiff.
type DifficultyConfig struct {
	// Initial is a new miner's difficulty (capped by the pool's). Floats are allowed: regtest
	// and test pools use difficulties far below 1.
	Initial float64 `toml:"initial"`
	// Min is the lowest difficulty vardiff will set.
	Min float64 `toml:"min"`
	// Max caps vardiff (0: only the pool's difficulty caps it).
	Max float64 `toml:"max"`
	// SharesPerMinute is the rate vardiff steers each miner toward.
	SharesPerMinute float64 `toml:"shares_per_minute"`
	// RetargetEvery is the shortest time between two changes for one miner.
	RetargetEvery Duration `toml:"retarget_every"`
}

// ExtranonceConfig is `[extranonce]`.
type ExtranonceConfig struct {
	// PrefixBytes is the width of each miner's prefix in the upstream extranonce2 (1 → 256
	// miners per upstream connection, 2 → 65,536).
	PrefixBytes int `toml:"prefix_bytes"`
	// MinerBytes is the extranonce2 size miners get (0: 4 when the first pool leaves room,
	// else what is left, never under 2).
	MinerBytes int `toml:"miner_bytes"`
	// MaxMinersPerUpstream caps how many miners share one upstream connection (0: the
	// prefix capacity).
	MaxMinersPerUpstream int `toml:"max_miners_per_upstream"`
}

// Config is the proxy's configuration.
type Config struct {
	Listeners  []ListenerConfig `toml:"listener"`
	Pools      []PoolConfig     `toml:"pool"`
	Difficulty DifficultyConfig `toml:"difficulty"`
	Extranonce ExtranonceConfig `toml:"extranonce"`
	// Limits bounds miner connections on every listener.
	Limits LimitsConfig `toml:"limits"`

	// WorkerNames is "passthrough" (authorize and submit as <pool user>.<worker>) or
	// "pool_user_only" (everything under the pool user).
	WorkerNames string `toml:"worker_names"`
	// WorkerAuthTimeout bounds the wait for a pool's answer to a passthrough worker's
	// authorize. ckpool ignores every authorize after a connection's first, so no answer
	// means the pool takes only its user: that pool then gets every share under the pool
	// user. Shares never wait for it: until a worker is authorized they go under the pool
	// user.
	WorkerAuthTimeout Duration `toml:"worker_auth_timeout"`
	// JobTimeout: a pool that sends no job for this long is failed over.
	JobTimeout Duration `toml:"job_timeout"`
	// Reannounce: re-send work with a fresh job id when a miner has had no new job this long,
	// ahead of firmware watchdogs (cgminer: 90 s; many: ~60 s).
	Reannounce Duration `toml:"reannounce"`
	// VerdictWait bounds how long a miner's forwarded share waits for the pool's verdict
	// before it is answered from local validation.
	VerdictWait Duration `toml:"verdict_wait"`
	// SubmitTimeout is how long a forwarded share waits for the pool's answer before it is
	// counted unknown. A working pool answers in well under a second even at a block
	// change; this only has to outlast a pool's brief stall, and it bounds what a pool that
	// stopped answering holds. Three in a row fail the pool over.
	SubmitTimeout Duration `toml:"submit_timeout"`
	// RejectFailover: this fraction of pool rejects over the last RejectWindow shares moves
	// miners to the next pool.
	RejectFailover float64 `toml:"reject_failover"`
	RejectWindow   int     `toml:"reject_window"`
	// MaxLine caps one Stratum V1 line from a miner or pool.
	MaxLine int `toml:"max_line"`
	// WriteTimeout is the deadline for one write to a peer; a miner that does not read within
	// it is disconnected.
	WriteTimeout Duration `toml:"write_timeout"`
	// SendQueue is each miner's bounded queue of replies (jobs are latest-wins, not queued).
	SendQueue int `toml:"send_queue"`
	// SubmitRate caps a miner's submits per second (a flood gets errors, then a disconnect).
	SubmitRate float64 `toml:"submit_rate"`
	// BackoffMin and BackoffMax bound upstream reconnect backoff (with jitter) after failed
	// attempts; a connection that carried work for 10 s is made again at once when it drops.
	BackoffMin Duration `toml:"backoff_min"`
	BackoffMax Duration `toml:"backoff_max"`
	// UserAgent is what hashgate calls itself upstream.
	UserAgent string `toml:"user_agent"`
}

// DefaultConfig returns the defaults every unset key takes.
func DefaultConfig() Config {
	return Config{
		Difficulty: DifficultyConfig{
			Initial:         16384,
			Min:             1024,
			SharesPerMinute: 20,
			RetargetEvery:   Duration(30 * time.Second),
		},
		Extranonce:     ExtranonceConfig{PrefixBytes: 2},
		Limits:         DefaultLimitsConfig(),
		WorkerNames:    "passthrough",
		JobTimeout:     Duration(120 * time.Second),
		Reannounce:     Duration(45 * time.Second),
		VerdictWait:    Duration(2 * time.Second),
		RejectFailover: 0.9,
		RejectWindow:   50,
		MaxLine:        64 << 10,
		WriteTimeout:   Duration(10 * time.Second),
		SendQueue:      256,
		SubmitRate:     200,
		BackoffMin:     Duration(time.Second),
		BackoffMax:     Duration(60 * time.Second),
		UserAgent:      "hashgate/0.1",

		WorkerAuthTimeout: Duration(5 * time.Second),
		SubmitTimeout:     Duration(30 * time.Second),
	}
}

// Validate reports the first wrong key, named as it appears in the config file.
func (c *Config) Validate() error {
	if len(c.Pools) == 0 {
		return errors.New("pool: at least one [[pool]] is needed")
	}
	names := map[string]bool{}
	for i, p := range c.Pools {
		key := fmt.Sprintf("pool[%d]", i)
		if p.Name == "" {
			return fmt.Errorf("%s.name: must be set", key)
		}
		if names[p.Name] {
			return fmt.Errorf("%s.name: %q used twice", key, p.Name)
		}
		names[p.Name] = true
		if err := p.validate(key); err != nil {
			return err
		}
	}
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listener[%d]", i)
		switch l.Protocol {
		case "sv1":
			if l.KeyFile != "" {
				return fmt.Errorf("%s.key_file: only sv2 listeners have a Noise key file; TLS takes tls_cert_file and tls_key_file", key)
			}
			if l.TLSCertFile == "" && l.TLSKeyFile != "" {
				return fmt.Errorf("%s.tls_cert_file: must be set with tls_key_file", key)
			}
			if l.TLSCertFile != "" && l.TLSKeyFile == "" {
				return fmt.Errorf("%s.tls_key_file: must be set with tls_cert_file", key)
			}
		case "sv2":
			if l.TLSCertFile != "" || l.TLSKeyFile != "" {
				return fmt.Errorf("%s.tls_cert_file: sv2 is encrypted by Noise (key_file); TLS is for sv1 listeners", key)
			}
			if l.KeyFile == "" {
				return fmt.Errorf("%s.key_file: an sv2 listener needs a key file (hashgate keygen)", key)
			}
		default:
			return fmt.Errorf("%s.protocol: %q is not sv1 or sv2", key, l.Protocol)
		}
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return fmt.Errorf("%s.address: %v", key, err)
		}
	}
	d := c.Difficulty
	if !(d.Initial > 0) {
		return errors.New("difficulty.initial: must be > 0")
	}
	if !(d.Min > 0) {
		return errors.New("difficulty.min: must be > 0")
	}
	if d.Min > d.Initial {
		return errors.New("difficulty.min: must not exceed difficulty.initial")
	}
	if d.Max != 0 && d.Max < d.Initial {
		return errors.New("difficulty.max: must be 0 or >= difficulty.initial")
	}
	if !(d.SharesPerMinute > 0) || d.SharesPerMinute > 6000 {
		return errors.New("difficulty.shares_per_minute: must be in (0, 6000]")
	}
	if d.RetargetEvery.D() < time.Second {
		return errors.New("difficulty.retarget_every: must be >= 1s")
	}
	if _, err := work.TargetFromDifficulty(d.Min); err != nil {
		return fmt.Errorf("difficulty.min: %v", err)
	}
	e := c.Extranonce
	if e.PrefixBytes < 1 || e.PrefixBytes > 3 {
		return errors.New("extranonce.prefix_bytes: must be 1..3")
	}
	if e.MinerBytes != 0 && (e.MinerBytes < work.MinMinerSize || e.MinerBytes > 8) {
		return errors.New("extranonce.miner_bytes: must be 0 (auto) or 2..8")
	}
	if e.MaxMinersPerUpstream < 0 {
		return errors.New("extranonce.max_miners_per_upstream: must be >= 0")
	}
	switch c.WorkerNames {
	case "passthrough", "pool_user_only":
	default:
		return fmt.Errorf("worker_names: %q is not passthrough or pool_user_only", c.WorkerNames)
	}
	for _, x := range []struct {
		key string
		d   Duration
	}{{"job_timeout", c.JobTimeout}, {"reannounce", c.Reannounce}, {"verdict_wait", c.VerdictWait}, {"worker_auth_timeout", c.WorkerAuthTimeout}, {"submit_timeout", c.SubmitTimeout}, {"write_timeout", c.WriteTimeout}, {"backoff_min", c.BackoffMin}, {"backoff_max", c.BackoffMax}} {
		if x.d <= 0 {
			return fmt.Errorf("%s: must be a positive duration", x.key)
		}
	}
	if c.BackoffMax.D() < c.BackoffMin.D() {
		return errors.New("backoff_max: must be >= backoff_min")
	}
	if c.RejectFailover <= 0 || c.RejectFailover > 1 {
		return errors.New("reject_failover: must be in (0, 1]")
	}
	if c.RejectWindow < 1 {
		return errors.New("reject_window: must be >= 1")
	}
	if c.MaxLine < 1024 || c.MaxLine > 16<<20 {
		return errors.New("max_line: must be 1 KiB .. 16 MiB")
	}
	if c.SendQueue < 8 {
		return errors.New("send_queue: must be >= 8")
	}
	if c.SubmitRate <= 0 {
		return errors.New("submit_rate: must be > 0")
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	return nil
}

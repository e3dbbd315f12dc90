// Package config reads hashgate.toml: one file that configures the proxy, the store, the
// power policy, the meters, the fleet groups and the console. Every section is its
// subsystem's own Config with its own defaults and Validate; this package only assembles them,
// rejects keys nobody knows (a typo must not silently fall back to a default) and names the
// exact key that is wrong.
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/hashgate/hashgate/alert"
	"github.com/hashgate/hashgate/cluster"
	"github.com/hashgate/hashgate/console"
	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/policy/meter"
	"github.com/hashgate/hashgate/power"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// File is hashgate.toml.
type File struct {
	Listener   []proxy.ListenerConfig `toml:"listener"`
	Pool       []proxy.PoolConfig     `toml:"pool"`
	Difficulty proxy.DifficultyConfig `toml:"difficulty"`
	Extranonce proxy.ExtranonceConfig `toml:"extranonce"`
	// Limits is [limits]: miner connection limits on every listener.
	Limits proxy.LimitsConfig `toml:"limits"`
	// Proxy holds the proxy's remaining keys ([proxy] worker_names, job_timeout, ...).
	Proxy proxyKeys    `toml:"proxy"`
	Store store.Config `toml:"store"`
	// Policy is nil when the file has no [policy] table: a plain proxy.
	Policy *policy.Config `toml:"policy"`
	// Cluster is nil when the file has no [cluster] table: one instance, no NATS.
	Cluster *cluster.Config     `toml:"cluster"`
	Meter   []meter.Config      `toml:"meter"`
	Fleet   []policy.FleetGroup `toml:"fleet"`
	// Power is [power]: firmware telemetry, the proven window and the energy queue.
	Power   power.Config   `toml:"power"`
	Console console.Config `toml:"console"`
	Log     LogConfig      `toml:"log"`
	// Alert is [alert]: in-process alert checks and [[alert.webhook]] notifications.
	Alert alert.Config `toml:"alert"`
	// Upgrade is [upgrade]: the hand-over to a new process on SIGHUP.
	Upgrade UpgradeConfig `toml:"upgrade"`
}

// proxyKeys are the [proxy] table: proxy.Config without the sections that live at the top.
type proxyKeys struct {
	WorkerNames    string         `toml:"worker_names"`
	JobTimeout     proxy.Duration `toml:"job_timeout"`
	Reannounce     proxy.Duration `toml:"reannounce"`
	VerdictWait    proxy.Duration `toml:"verdict_wait"`
	RejectFailover float64        `toml:"reject_failover"`
	RejectWindow   int            `toml:"reject_window"`
	MaxLine        int            `toml:"max_line"`
	WriteTimeout   proxy.Duration `toml:"write_timeout"`
	SendQueue      int            `toml:"send_queue"`
	SubmitRate     float64        `toml:"submit_rate"`
	BackoffMin     proxy.Duration `toml:"backoff_min"`
	BackoffMax     proxy.Duration `toml:"backoff_max"`
	UserAgent      string         `toml:"user_agent"`

	WorkerAuthTimeout proxy.Duration `toml:"worker_auth_timeout"`
	SubmitTimeout     proxy.Duration `toml:"submit_timeout"`
}

// LogConfig is [log].
type LogConfig struct {
	// Level is trace, debug, info, warn or error.
	Level string `toml:"level"`
	// Format is json or console (pretty is its older name; "" chooses console on a terminal).
	Format string `toml:"format"`
}

// Default returns a File holding every default.
func Default() File {
	pc := proxy.DefaultConfig()
	return File{
		Difficulty: pc.Difficulty,
		Extranonce: pc.Extranonce,
		Limits:     pc.Limits,
		Proxy: proxyKeys{
			WorkerNames: pc.WorkerNames, JobTimeout: pc.JobTimeout, Reannounce: pc.Reannounce, VerdictWait: pc.VerdictWait,
			RejectFailover: pc.RejectFailover, RejectWindow: pc.RejectWindow, MaxLine: pc.MaxLine, WriteTimeout: pc.WriteTimeout,
			SendQueue: pc.SendQueue, SubmitRate: pc.SubmitRate, BackoffMin: pc.BackoffMin, BackoffMax: pc.BackoffMax, UserAgent: pc.UserAgent,
			WorkerAuthTimeout: pc.WorkerAuthTimeout, SubmitTimeout: pc.SubmitTimeout,
		},
		Store:   store.DefaultConfig(),
		Power:   power.DefaultConfig(),
		Console: console.DefaultConfig(),
		Log:     LogConfig{Level: "info"},
		Alert:   alert.DefaultConfig(),
		Upgrade: DefaultUpgradeConfig(),
	}
}

// ProxyConfig assembles the proxy's Config.
func (f *File) ProxyConfig() proxy.Config {
	k := f.Proxy
	return proxy.Config{
		Listeners: f.Listener, Pools: f.Pool, Difficulty: f.Difficulty, Extranonce: f.Extranonce, Limits: f.Limits,
		WorkerNames: k.WorkerNames, JobTimeout: k.JobTimeout, Reannounce: k.Reannounce, VerdictWait: k.VerdictWait,
		RejectFailover: k.RejectFailover, RejectWindow: k.RejectWindow, MaxLine: k.MaxLine, WriteTimeout: k.WriteTimeout,
		SendQueue: k.SendQueue, SubmitRate: k.SubmitRate, BackoffMin: k.BackoffMin, BackoffMax: k.BackoffMax, UserAgent: k.UserAgent,
		WorkerAuthTimeout: k.WorkerAuthTimeout, SubmitTimeout: k.SubmitTimeout,
	}
}

// Load reads and validates a config file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(string(b))
}

// Parse decodes and validates config text.
func Parse(text string) (*File, error) {
	f := Default()
	// [policy] is optional: absent means no power policy (a plain proxy).
	var probe struct {
		Policy  *toml.Primitive `toml:"policy"`
		Cluster *toml.Primitive `toml:"cluster"`
	}
	if _, err := toml.Decode(text, &probe); err != nil {
		return nil, describe(err)
	}
	if probe.Cluster != nil {
		cc := cluster.DefaultConfig()
		f.Cluster = &cc
	}
	if probe.Policy != nil {
		pc := policy.DefaultConfig()
		f.Policy = &pc
	}
	md, err := toml.Decode(text, &f)
	if err != nil {
		// The text parsed above, so this is a value its key's type refused.
		return nil, describeValue(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, unknownKeys(und)
	}
	out := f
	for i := range out.Meter {
		out.Meter[i] = out.Meter[i].WithDefaults()
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}

func describe(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
	}
	return err
}

// describeValue names the key whose value failed to decode: a bare `missing unit in duration`
// leaves the operator searching the file.
func describeValue(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.LastKey != "" {
		msg := strings.TrimPrefix(pe.Message, "time: ")
		return fmt.Errorf("%s: %s (line %d)", pe.LastKey, msg, pe.Position.Line)
	}
	return describe(err)
}

// Warnings are settings that validate but will not do what the operator likely wants,
// each naming its keys; `hashgate check` prints them and `run` logs them at start.
func (f *File) Warnings() []string {
	var w []string
	// Orders cut short matter only where the policy calls firmware: gating job delivery
	// (firmware none) is immediate.
	calls := slices.ContainsFunc(f.Fleet, func(g policy.FleetGroup) bool { return g.Firmware != "" && g.Firmware != policy.FirmwareNone })
	if f.Cluster != nil && f.Policy != nil && calls {
		if err := f.Cluster.CheckPolicy(*f.Policy); err != nil {
			w = append(w, err.Error())
		}
	}
	for i := range f.Fleet {
		g := &f.Fleet[i]
		if g.Firmware != "" && g.Firmware != policy.FirmwareNone && g.VouchesForNone() {
			w = append(w, fmt.Sprintf("fleet[%d].networks: group %q matches by worker name alone: its miners' firmware readings "+
				"are shown but not trusted (neither proof of a miner nor its draw); list the address ranges its miners connect from", i, g.Name))
		}
	}
	return w
}

// Validate checks every section and names the wrong key.
func (f *File) Validate() error {
	pc := f.ProxyConfig()
	if err := pc.Validate(); err != nil {
		return err
	}
	if len(f.Listener) == 0 {
		return errors.New("listener: at least one [[listener]] is needed")
	}
	if err := f.Console.Validate(); err != nil {
		return inSection("console", err)
	}
	if err := f.Store.Validate(); err != nil {
		return inSection("store", err)
	}
	if f.Policy != nil {
		if err := f.Policy.Validate(); err != nil {
			return err
		}
	}
	if f.Cluster != nil {
		if f.Policy == nil {
			return errors.New("cluster: a [cluster] shares the site's [policy], so it needs one")
		}
		if err := f.Cluster.Validate(); err != nil {
			return err
		}
	}
	if err := policy.ValidateFleet(f.Fleet); err != nil {
		return err
	}
	if err := f.Power.Validate(); err != nil {
		return err
	}
	names := map[string]bool{}
	roles := map[string]string{}
	for i, m := range f.Meter {
		// The engine holds one reading per role: two meters with one role would overwrite
		// each other (half a site's import would be missed).
		if other, dup := roles[string(m.Role)]; dup {
			return fmt.Errorf("meter[%d].role: %q is already measured by meter %q (one meter per role)", i, m.Role, other)
		}
		roles[string(m.Role)] = m.Name
		if err := m.Validate(); err != nil {
			return fmt.Errorf("meter[%d].%v", i, err)
		}
		if names[m.Name] {
			return fmt.Errorf("meter[%d].name: %q used twice", i, m.Name)
		}
		names[m.Name] = true
	}
	if len(f.Meter) > 0 && f.Policy == nil {
		return errors.New("meter: meters are configured but there is no [policy] to use them")
	}
	switch f.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not trace, debug, info, warn or error", f.Log.Level)
	}
	switch f.Log.Format {
	case "", "json", "pretty", "console":
	default:
		return fmt.Errorf("log.format: %q is not json or console", f.Log.Format)
	}
	if err := f.Upgrade.Validate(); err != nil {
		return err
	}
	return f.Alert.Validate()
}

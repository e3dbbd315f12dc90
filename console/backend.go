package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/proxy"
	"github.com/hashgate/hashgate/store"
)

// ErrUnavailable is returned by a Backend method whose subsystem is not configured (no
// [policy], no store). The console then hides or degrades that part instead of failing.
var ErrUnavailable = errors.New("console: not configured")

// ErrNotFound is returned by a control whose subject (group, worker, DR event) is unknown.
var ErrNotFound = errors.New("console: not found")

// Backend is everything the console reads and does. The wiring implements it over the proxy,
// the policy runner and the store. Read methods are called from the hub goroutine once per
// update interval and from request handlers; they must be safe for concurrent use and must
// not block on the network.
type Backend interface {
	Reader
	Controller
}

// Reader is the read side of Backend.
type Reader interface {
	// Status, Workers and Pools are the proxy's snapshots.
	Status() proxy.Status
	Workers() []proxy.WorkerStats
	Pools() []proxy.PoolStats

	// Policy returns the runner's snapshot; ok is false when no [policy] is configured.
	Policy() (snap policy.Snapshot, ok bool)
	// Fleet returns the configured [[fleet]] groups (nil when none).
	Fleet() []policy.FleetGroup
	// Meters returns the state of every configured meter (nil when none).
	Meters() []MeterStatus
	// FirmwareResults returns cumulative firmware command outcomes (nil when none).
	FirmwareResults() []FirmwareResult
	// Gates returns, by worker name, why each worker's proxy gate is closed and whether the
	// policy counts the worker as a miner. A worker absent from the map has an open gate and
	// no proof. It is called for the whole fleet once per update interval.
	Gates() map[string]WorkerGate

	// Decisions and Events page through the store's audit trail; ErrUnavailable without a
	// store (the console then shows the runner's recent decisions and its own event ring).
	Decisions(ctx context.Context, q store.DecisionQuery) ([]store.Decision, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.Event, error)

	// Subscribe returns the policy event stream with room for capacity events, or nil when no
	// policy is configured. *policy.Subscription satisfies Subscription.
	Subscribe(capacity int) Subscription

	// MeterPush returns the HTTP push handler of the named meter (policy/meter.PushSource), or
	// nil when there is no such push meter. The console mounts it at
	// POST /api/v1/meters/{name}/push; the meter checks its own bearer token.
	MeterPush(name string) http.Handler
}

// Controller is the control side of Backend. Every method takes the actor (the operator or
// token name, prefixed "user:" or "token:") so the wiring records who did what in the audit
// trail. Policy controls return ErrUnavailable without a policy; unknown subjects return
// ErrNotFound.
type Controller interface {
	// SetCap limits total mining power to kw until the given time.
	SetCap(ctx context.Context, actor string, kw float64, until time.Time) error
	// ClearCap removes the operator cap.
	ClearCap(ctx context.Context, actor string) error
	// PauseGroup keeps every miner of a fleet group off until ResumeGroup.
	PauseGroup(ctx context.Context, actor, group string) error
	ResumeGroup(ctx context.Context, actor, group string) error
	// ScheduleDR adds (or replaces, by ID) a demand-response event.
	ScheduleDR(ctx context.Context, actor string, ev policy.DREvent) error
	// CancelDR removes a demand-response event.
	CancelDR(ctx context.Context, actor, id string) error
	// PauseWorker and ResumeWorker gate one worker name at the proxy (no new jobs).
	PauseWorker(ctx context.Context, actor, worker string) error
	ResumeWorker(ctx context.Context, actor, worker string) error
}

// Subscription is a stream of policy events. Its channel closes when the stream ends.
type Subscription interface {
	C() <-chan policy.Event
	Close()
}

var _ Subscription = (*policy.Subscription)(nil)

// MeterStatus is one meter's state for the console and /metrics.
type MeterStatus struct {
	Name  string      `json:"name"`
	Role  policy.Role `json:"role"`
	Kind  string      `json:"kind"` // modbus, mqtt, http_poll, http_push, sim
	Value float64     `json:"value"`
	// At is when the last good reading was taken; zero when none yet.
	At time.Time `json:"at"`
	// Quality of the last reading: good, invalid or unavailable.
	Quality string `json:"quality"`
	// Stale is true when the last good reading is older than stale_after.
	Stale bool `json:"stale"`
	// Trusted is true when the policy's last step took the meter's value as healthy (a value
	// the meter calls good may still be implausible: negative grid import, a jump).
	Trusted bool `json:"trusted"`
	// Readings counts readings by quality (good, invalid, unavailable) since start.
	Readings map[string]uint64 `json:"readings,omitempty"`
}

// WorkerGate is one worker's gate as the power controller holds it.
type WorkerGate struct {
	// Holds are the reasons the gate is closed (policy, operator, restart, safety); empty
	// when it is open.
	Holds HoldList
	// Proof is the evidence that the worker is a real miner, which the policy then budgets:
	// "share" (a recent valid share), "firmware" (its firmware recently answered), "held" (a
	// hold keeps it from submitting) or "none" (not proven, or not controlled by the policy).
	Proof string
}

// FirmwareResult counts firmware commands with one outcome.
type FirmwareResult struct {
	Firmware string `json:"firmware"` // braiins, luxos, ...
	Command  string `json:"command"`  // sleep, wake, set_power_target, status, reboot, locate, power_profile
	Result   string `json:"result"`   // ok, error, timeout, unsupported
	Count    uint64 `json:"count"`
}

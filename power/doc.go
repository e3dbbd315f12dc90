// Package power is the one owner of per-miner control state: what each
// miner is, whether hashgate may let it mine, and what its firmware says it
// draws, next to what the policy engine commanded.
//
// [Controller] keeps the fleet inventory (the proxy's connected workers
// matched to [[fleet]] groups; workers sharing an IP without a configured
// address get the gate only), the holds on each worker's proxy gate by
// reason ([Hold]: policy, operator, restart, safety; the gate is open only
// when none remains, and the Controller makes every gate call), the evidence
// that a session is a real miner (Proven: a recent valid share, a firmware
// answer, or a hold that keeps it from submitting), the feed of meter
// readings and telemetry into the policy Runner, and the operator controls,
// recorded in the audit trail and replayed at start. It is the Runner's only
// Actuator and its Planner: a step's pauses close every gate at once, and
// a run or throttle opens one only after the firmware confirmed it. Commands
// in flight stay in the Runner. No disk I/O runs on a control path: the
// energy ledger reaches the store through a bounded queue with a counted
// drop policy, the audit trail through the Runner's own writer. A worker
// that disconnected is forgotten offline_ttl later, with its stored last
// state, unless a hold pins it; at most max_offline such workers are kept.
//
// [Poller] reads the miners' side from the miners themselves: every miner
// with a control channel is asked for its status through its firmware driver
// (policy/firmware) once per interval, with the polls spread over the
// interval, a bound on the calls in flight, and exponential back-off for a
// miner that does not answer, so a dead rack costs almost nothing.
package power

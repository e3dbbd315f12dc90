// Package policy makes a mining fleet follow a site's spare power.
//
// The site shares one grid import limit with other load (typically AI compute). Mining soaks up
// what the other load leaves and must give it back within seconds when that load spikes. The
// package has three layers:
//
//   - Config and FleetGroup: the [policy] and [[fleet]] sections of hashgate.toml.
//   - Decide (and Engine, its stateful wrapper): a pure state machine in the shape of
//     (state, input) -> (next state, decisions). It never touches sockets or clocks, so every rule
//     is tested by replaying recorded or generated meter traces (and sim/powersite's site).
//   - Runner: owns time and I/O. It feeds the engine on a tick and on every new reading, applies
//     decisions through an Actuator with bounded parallelism, and publishes a Snapshot, an Event
//     stream and an Audit trail.
//
// The site meter is the binding truth: whatever the fleet estimate does not explain is other
// load, metered or not; an AI meter may raise that, a mining sub-meter refine the estimate, never
// loosen it. The estimate counts a shed as still drawing until telemetry shows it or its
// firmware's ramp has passed (a command queued for its turn has not begun), at the instant the
// site meter's reading describes (meter_lag). Only proven miners get budget.
//
// Safety comes first and is asymmetric: sheds happen at once and in one step; restores happen
// slowly, strictly in priority order, in steps of restore_step_kw per restore_interval into room
// that held for a restore_interval and once the meter has seen the previous step, with
// hysteresis and minimum run and pause times. A site meter that is stale or reports nonsense puts
// the fleet at safe_floor_kw, never at full power; a miner that ignores its command is seen by
// the meters once its ramp is over, and others shed for it; an under-frequency trip sheds
// everything.
package policy

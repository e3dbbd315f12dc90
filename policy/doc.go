// Package policy makes a mining fleet follow a site's spare power.
//
// The site shares one grid import limit with other load (typically AI compute). Mining soaks up
// what the other load leaves and must give it back within seconds when that load spikes. The
// package has three layers:
//
//   - Config and FleetGroup: the [policy] and [[fleet]] sections of hashgate.toml.
//   - Decide (and Engine, its stateful wrapper): a pure state machine in the shape of
//     (state, input) -> (next state, decisions). It never touches sockets or clocks, so every rule
//     is tested by replaying recorded or generated meter traces.
//   - Runner: owns time and I/O. It feeds the engine on a tick and on every new reading, applies
//     decisions through an Actuator with bounded parallelism, and publishes a Snapshot, an Event
//     stream and an Audit trail.
//
// Safety comes first and is asymmetric: sheds happen at once and in one step, restores happen
// slowly, in steps of restore_step_kw per restore_interval, with hysteresis and minimum run and
// pause times. A meter that is stale or reports nonsense puts the fleet at safe_floor_kw, never at
// full power; a shed the site meter does not confirm escalates to the next miners; an
// under-frequency trip sheds everything.
package policy

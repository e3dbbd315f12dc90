// Package power keeps hashgate's view of each controllable miner's power: what
// its firmware says it draws and whether it mines or sleeps, next to what the
// policy engine commanded.
//
// [Poller] reads that view from the miners themselves: every miner with a
// control channel is asked for its status through its firmware driver
// (policy/firmware) once per interval, with the polls spread over the
// interval, a bound on the calls in flight, and exponential back-off for a
// miner that does not answer, so a dead rack costs almost nothing.
package power

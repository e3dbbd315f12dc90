// Package loadfleet is a cheap fleet of many miner connections for load tests of hashgate:
// ten thousand connections from one process, each speaking real Stratum V1 (subscribe,
// authorize, set_difficulty, notify, submit) or real Stratum V2 (a Noise NX handshake pinned
// to the server's authority key, SetupConnection, one extended or standard channel, jobs,
// SetNewPrevHash, SetTarget, SubmitShares) and submitting real shares. A fleet may mix the two.
//
// A load miner does not search nonces the way sim/miner does. At the very low difficulties a
// load test uses, almost every header is a share, so a miner hashes its next header only when
// it is about to submit it (one double SHA-256 of 80 bytes; the coinbase and merkle root are
// built once per extranonce2). Every share is a real header under the miner's notify and
// extranonce1 that the proxy rebuilds and validates; shares are paced by a few pacer
// goroutines rather than by hashing, so the fleet's CPU goes to the network, not to SHA-256.
//
// The fleet measures what only the miner side can see: the reply latency of each share
// (submit written → reply read; V1 carries the send time in the request id, V2 keeps each
// miner's few unanswered submits), the Noise handshake time of each V2 connection,
// the time each miner reads a new block's clean notify, and, for shares that meet a tracked
// (pool) target, when each was written, so that whoever watches the pool's side can compute
// the latency the proxy added (see Tracker).
package loadfleet

// Package proxy is hashgate's mining proxy: it accepts miners (Stratum V1 today), aggregates
// them onto few upstream pool connections by giving each miner a fixed-width slice of the
// upstream extranonce space, owns per-miner difficulty, validates every share itself, forwards
// only the shares that meet the pool's target, and fails over between pools without dropping
// miners.
//
// The flow is: an upstream session turns pool work into a work.Job; the Proxy publishes it to
// every running miner on that upstream channel (one encoded notify, written by each miner's own
// writer goroutine, so a frozen miner delays nobody); a miner's share is rebuilt into a header
// and hashed once (stratum/work), answered truthfully, counted, and forwarded upstream when it
// meets the pool's target.
package proxy

// Package proxy is hashgate's mining proxy: it accepts miners (Stratum V1 over TCP, Stratum V2
// over Noise), aggregates them onto few upstream pool connections (V1 or V2) by giving each miner a fixed-width slice of the
// upstream extranonce space, owns per-miner difficulty, validates every share itself, forwards
// only the shares that meet the pool's target, and fails over between pools without dropping
// miners.
//
// The flow is: an upstream session turns pool work into a work.Job; the Proxy publishes it to
// every running channel on that upstream connection (one encoded notify, written by the
// fan-out workers with writes that never wait; a flusher goroutine exists only while a
// miner's socket refuses bytes, so a frozen miner delays nobody); a miner's share is
// rebuilt into a header and hashed once by its channel (channel.go, the same code for V1 and
// V2), answered truthfully, counted, and forwarded upstream when it meets the pool's target.
//
// An idle plain-TCP V1 miner holds no goroutine: it waits in one epoll set (park_linux.go),
// and what it sends is read in turns by a few burst workers (burst.go).
//
// The gate (Pause/Resume by worker name) is how the power policy stops job delivery; the
// firmware drivers in policy/firmware are what actually cut an ASIC's power.
package proxy

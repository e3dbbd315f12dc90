// Command hashgate-bench measures the hashgate proxy under a simulated fleet over loopback.
//
// By default it runs three parties: the simulated pool (sim/pool) and a load fleet
// (sim/loadfleet) in this process, and the proxy in a child process (this binary re-executed
// with -role proxy), so the proxy's memory and CPU are its own and can be read honestly. It
// reports:
//
//   - shares per second answered by the proxy (submit written → reply read by the miner) and
//     the proxy's CPU time per share (the child's getrusage);
//   - the latency the proxy adds to a forwarded share: the time its upstream submit line
//     reaches the pool minus the time the miner wrote it, matched by extranonce2 and nonce
//     (the pool's listener is wrapped to timestamp every mining.submit line it reads);
//   - how fast a new block reaches the fleet: pool.NewBlock() → every miner has read the
//     clean notify (V2: SetNewPrevHash) with the new prevhash, idle and under load;
//   - the proxy's resident memory per connected miner (VmRSS of the child before and after
//     the fleet connects, after a GC), with the Go heap, stack and goroutine figures behind it.
//
// A fleet dials one proxy address, and the kernel's ephemeral ports (about 28,000 per
// destination) bound it: a run of more than -miners-per-address (25,000) miners is split
// into fleets, each dialing its own proxy listener on 127.0.0.1, 127.0.0.2, ... (V1 miners,
// proxy run by the bench); the submit → reply latency is then the first fleet's.
//
// The proxy runs with worker_names = "pool_user_only" unless -worker-names passthrough: with
// passthrough it authorizes every worker at the pool, and from about 10,000 workers that burst
// overflows the simulated pool's client queue, which then drops the proxy.
//
// -storm adds a reconnect storm after the load window: every miner drops at once and as many
// fresh ones dial at once (no dial concurrency bound); it reports the time until each is
// subscribed, authorized and has its first job.
//
// Where that memory goes: -memprofile FILE writes the proxy child's heap profile (after a GC)
// and -goroutineprofile FILE its goroutines as text, both once the fleet is connected and
// idle (read them with go tool pprof FILE, or as text); -cpuprofile FILE profiles the load
// window. The bench and its child raise RLIMIT_NOFILE, the hard limit too where allowed
// (CAP_SYS_RESOURCE), so fleets past the usual 20,000 or 65,536 descriptors connect; where
// not, the hard limit bounds the fleet (the proxy keeps limits.fd_reserve of it back).
//
// -protocol sv2 drives Stratum V2 miners instead (mixed: half of each, interleaved): the bench
// makes a fresh authority key and a server key with its certificate in memory, hands the key
// file to the proxy child on its stdin, the child opens an SV2 port with ListenV2, and every
// fleet miner pins the authority key in its Noise handshake, opens an extended channel
// (-sv2-standard: a standard one) and submits real SubmitShares. The report then adds the
// handshake rate and time, the CPU each side spends per connection, and how the proxy batches
// its SubmitShares.Success replies; a block reaches a V2 miner with its SetNewPrevHash.
//
// With -inproc the proxy runs in this process (memory per miner is then not separable); with
// -proxy host:port the fleet drives an external proxy, which must be configured to use the
// simulated pool at -pool-listen for the pool-side and block figures.
package main

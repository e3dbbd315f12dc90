// Package firmware simulates miners' control APIs so hashgate can be run,
// demonstrated and load-tested without hardware. Each simulator speaks its
// firmware's documented wire protocol over real sockets: LuxOS (cgminer-style
// JSON on TCP), Braiins OS (gRPC over HTTP/2 cleartext), Whatsminer API v2
// (TCP with the token and AES "enc" envelope), ESP-Miner/Bitaxe REST and
// VNish REST.
//
// Behind every endpoint sits a [Miner]: a power model that ramps linearly to
// its new draw over a configurable delay measured on an injected [Clock], so
// a test can step time instead of sleeping. Its temperatures and fan speeds follow
// the draw (ambient and idle fans asleep), its hashboards stop hashing asleep
// or when switched dead, and it keeps an uptime, a reboot count and a locate
// LED for the reboot and locate commands. Faults can be switched on at run
// time: acknowledge writes but change nothing, reply with garbage, stall,
// refuse credentials, or pad HTTP replies with megabytes of headers.
//
// Identity: a real miner's API sits at its own IP on the firmware's default
// port. Here each simulated miner gets its own listener (its own host:port,
// e.g. 127.0.0.1:0 for an ephemeral port); a Target carrying that explicit
// host:port reaches it. Where a message's layout below is not from vendor
// documentation (error codes of the simulator, for instance), the code says
// so.
package firmware

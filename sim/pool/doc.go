// Package pool is a Stratum V1 mining pool simulator that speaks the real protocol byte for
// byte: it hands out jobs built like real block templates (BIP34 height, segwit commitment,
// a merkle branch), sets difficulty, validates every share by the rules real pools apply
// (known job, exact extranonce2 size, ntime window, version mask, duplicates, target), and can
// be told to misbehave: reject everything, stall, leave shares unanswered while still sending
// work, or drop a connection at its next share.
//
// Config.Auth picks how mining.authorize is treated, as pool software differs: every name
// (public-pool), only a connection's first with ckpool's replies (ckpool), or the account
// name only with later names refused. A block solved by a share under the pool's difficulty
// is counted as found while the share is refused, as ckpool does.
//
// hashgate's demo, tests and load tools use it; operators can point a test proxy at it.
package pool

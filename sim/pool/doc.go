// Package pool is a Stratum V1 mining pool simulator that speaks the real protocol byte for
// byte: it hands out jobs built like real block templates (BIP34 height, segwit commitment,
// a merkle branch), sets difficulty, validates every share by the rules real pools apply
// (known job, exact extranonce2 size, ntime window, version mask, duplicates, target), and can
// be told to misbehave: reject everything, stall, or drop connections.
//
// hashgate's demo, tests and load tools use it; operators can point a test proxy at it.
package pool

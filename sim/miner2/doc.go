// Package miner2 simulates Stratum V2 mining devices over Noise: it sets up a Mining
// connection, opens a standard channel (header-only, as Bitaxe-class firmware does, with
// REQUIRES_STANDARD_JOBS) or an extended one (as NerdQAxe and translators do), follows future
// jobs, SetNewPrevHash and SetTarget, and finds real shares by hashing real headers at the
// channel's target, submitting them with SubmitSharesStandard or SubmitSharesExtended.
package miner2

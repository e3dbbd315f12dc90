// Package miner simulates Stratum V1 ASIC miners that find real shares: each miner connects,
// pipelines configure/subscribe/authorize like current firmware, builds the coinbase, merkle
// root and header from every notify exactly as an ASIC's controller does, hashes nonces at a
// configured rate, and submits what meets its difficulty (with BIP310 version bits when
// negotiated). A Fleet runs many of them.
package miner

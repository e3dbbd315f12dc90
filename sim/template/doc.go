// Package template builds realistic block templates for hashgate's pool simulators: a coinbase
// with a BIP34 height push, a tag and room for the extranonce in its scriptSig, a P2WPKH payout
// and a segwit witness commitment, and a merkle branch. The V1 pool (sim/pool) and the V2 pool
// (sim/pool2) cut their jobs from the same templates.
package template

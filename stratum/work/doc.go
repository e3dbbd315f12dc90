// Package work is hashgate's protocol-neutral model of mining work: jobs as a pool hands them
// out, the extranonce layout that lets many miners share one upstream channel, exact
// difficulty/target arithmetic, and the one place where a share is rebuilt into an 80-byte
// block header and hashed.
//
// Every Stratum V1 and V2 path in hashgate goes through this package, so that a share is
// judged by exactly the same bytes whichever protocol brought it in. Byte orders follow the
// Stratum V1 brief (sections 4 and 5): header fields are little-endian, the Stratum prevhash is
// word-swapped, merkle branch entries and the root are used as SHA-256 outputs them, and a hash
// is compared with a target as a little-endian 256-bit integer.
package work

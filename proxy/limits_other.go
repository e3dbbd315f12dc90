//go:build !unix

package proxy

// fileLimit is unknown off Unix: no stratum cap is derived from it.
func fileLimit() uint64 { return 0 }

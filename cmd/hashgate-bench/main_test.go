package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary play the proxy child, as the real binary does: the bench
// re-executes os.Executable() with roleEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "proxy" {
		os.Exit(runProxyRole(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

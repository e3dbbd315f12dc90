package app

import (
	"testing"

	"github.com/hashgate/hashgate/proxy"
)

// TestLedgerMapsEveryResult: a share result the ledger does not know is silently not recorded.
func TestLedgerMapsEveryResult(t *testing.T) {
	n := 0
	for r := proxy.Result(0); r.String() != "unknown"; r++ {
		if _, ok := resultMap[r]; !ok {
			t.Errorf("share result %s is not recorded in the ledger", r)
		}
		n++
	}
	if n != len(resultMap) || n < 12 {
		t.Fatalf("%d results, %d mapped", n, len(resultMap))
	}
}

package proxy

import (
	"strconv"
	"testing"

	"github.com/hashgate/hashgate/stratum/sv1"
)

// TestMalformedLinesLoggedOncePerConnection: a miner alternating 100 good lines with 100
// malformed ones gets a parse error for each bad line and an answer for each good one, and
// stays connected; the log has one line for the first bad line and, when the miner goes, one
// with the count. Another connection's first bad line is logged on its own.
func TestMalformedLinesLoggedOncePerConnection(t *testing.T) {
	_, paddr := startPool(t, nil)
	logs, log := logSink()
	px, addr := startProxy(t, testConfig(paddr), Options{Logger: log})
	r := dialRaw(t, addr)
	r.handshake("rack4.m00")

	parseErrors := 0
	answer := func(id string) func(*sv1.Message) bool {
		return func(m *sv1.Message) bool {
			if m.IsResponse() && m.Error != nil && m.Error.Code == -32700 {
				parseErrors++
				return id == ""
			}
			return id != "" && m.IsResponse() && string(m.ID) == id
		}
	}
	const rounds = 100
	for i := range rounds {
		id := strconv.Itoa(100 + i)
		r.send(`{"id":` + id + `,"method":"mining.extranonce.subscribe","params":[]}`)
		r.send(`{this is not json`)
		if m := r.next(answer(id)); m.Error != nil || !m.Accepted() {
			t.Fatalf("round %d: good line answered %+v", i, m.Error)
		}
		r.next(answer(""))
	}
	if parseErrors != rounds {
		t.Fatalf("%d parse errors for %d malformed lines", parseErrors, rounds)
	}
	if n := px.drops.malformed.Load(); n != rounds {
		t.Fatalf("malformed_message drops %d, want %d", n, rounds)
	}
	const first, summary = "malformed message from miner", "malformed messages after the first were answered, not logged"
	if n := logs.count(first); n != 1 {
		t.Fatalf("%d log lines for %d malformed lines, want 1", n, rounds)
	}
	if logs.count(summary) != 0 {
		t.Fatal("summary logged while the miner is still connected")
	}
	r.c.Close()
	eventually(t, "the summary when the miner goes", func() bool { return logs.count(summary) == 1 })
	if logs.count(`"malformed":100,`) != 1 || logs.count(first) != 1 {
		t.Fatalf("summary without the count, or more lines:\n%s", logs.b.String())
	}

	// Once per connection: another miner's first bad line is logged.
	o := dialRaw(t, addr)
	o.send(`{this is not json either`)
	o.next(answer(""))
	eventually(t, "the second connection's line", func() bool { return logs.count(first) == 2 })
	o.c.Close()
	eventually(t, "the second miner gone", func() bool { return px.Status().Conns.Open == 0 })
	if logs.count(summary) != 1 {
		t.Fatal("a summary for a connection with a single malformed line")
	}
}

package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/firmware"
)

// TestMinerHardwareView: only what the firmware reported is shown, a non-finite number from a
// miner is left out rather than breaking the JSON answer, and a poll's error is said in our
// words, not the miner's.
func TestMinerHardwareView(t *testing.T) {
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	st := firmware.Status{State: firmware.StateRunning, PowerW: math.NaN(), HashrateTHs: 200, BoardTempC: math.Inf(1), ChipTempC: 81.5,
		UptimeS: 3600, Known: firmware.FieldPower | firmware.FieldHashrate | firmware.FieldBoardTemp | firmware.FieldChipTemp | firmware.FieldUptime}
	st.AddFan(5900)
	hostile := fmt.Errorf("%w: <script>alert(1)</script>", firmware.ErrProtocol)
	h := NewMinerHardware("braiins", true, st, at, at.Add(time.Minute), hostile, 2500)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"power_w", "board_temp_c", "j_per_th", "power_target_w", "boards_total", "boards_working"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s present: %s", absent, b)
		}
	}
	if got["chip_temp_c"] != 81.5 || got["hashrate_ths"] != 200.0 || got["uptime_s"] != 3600.0 || got["power_profile_w"] != 2500.0 ||
		got["state"] != "running" || got["poll_error"] != "unreadable reply" || strings.Contains(string(b), "script") {
		t.Fatalf("hardware view %s", b)
	}
	if fans, _ := got["fans_rpm"].([]any); len(fans) != 1 || fans[0] != 5900.0 {
		t.Fatalf("fans %v", got["fans_rpm"])
	}

	// Never answered: the firmware and the poll only.
	h = NewMinerHardware("luxos", false, firmware.Status{}, time.Time{}, at, errors.New("dial tcp: refused"), 0)
	if b, _ = json.Marshal(h); string(b) != `{"firmware":"luxos","controllable":false,"polled_ms":`+fmt.Sprint(at.UnixMilli())+`,"poll_error":"unreachable"}` {
		t.Fatalf("never answered: %s", b)
	}
}

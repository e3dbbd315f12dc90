package firmware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashgate/hashgate/policy/firmware"
	sim "github.com/hashgate/hashgate/sim/firmware"
)

// A miner answering with megabytes of headers is refused by every driver
// that speaks HTTP (HTTP/1 REST and Braiins' HTTP/2 gRPC) instead of being
// buffered whole, and the driver works again once the miner behaves.
func TestDriverHugeReplyHeadersRefused(t *testing.T) {
	for _, name := range []string{firmware.Antminer, firmware.Bitaxe, firmware.Braiins, firmware.VNish} {
		t.Run(name, func(t *testing.T) {
			r := rigs[name](t)
			r.miner.SetFaults(sim.FaultHugeHeaders)
			ctx := context.Background()
			if _, err := r.drv.Status(ctx, r.target); err == nil {
				t.Fatalf("a reply with %d bytes of headers was accepted", sim.HugeHeaderBytes)
			}
			r.miner.SetFaults(0)
			if _, err := r.drv.Status(ctx, r.target); err != nil {
				t.Fatalf("status once the headers are normal again: %v", err)
			}
		})
	}
}

// The header cap follows MaxReplyBytes below 64 KiB: 16 KiB of headers
// pass the default configuration and fail one whose replies are capped at
// 4 KiB.
func TestReplyHeaderCapFollowsMaxReplyBytes(t *testing.T) {
	pad := strings.Repeat("b", 1<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for range 16 {
			w.Header().Add("X-Pad", pad)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"power":12.5,"hashRate":1100,"miningPaused":false}`))
	}))
	defer srv.Close()
	tg := firmware.Target{ID: "bitaxe-1", Addr: strings.TrimPrefix(srv.URL, "http://")}
	ctx := context.Background()

	st, err := newDriver(t, firmware.Bitaxe, testConfig(firmware.SystemClock{})).Status(ctx, tg)
	if err != nil || st.PowerW != 12.5 {
		t.Fatalf("16 KiB of headers under the default cap: %+v, %v", st, err)
	}
	small := testConfig(firmware.SystemClock{})
	small.MaxReplyBytes = 4096
	if _, err := newDriver(t, firmware.Bitaxe, small).Status(ctx, tg); err == nil {
		t.Fatal("16 KiB of headers accepted with MaxReplyBytes 4096")
	}
}

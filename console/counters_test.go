package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashgate/hashgate/store"
)

// countersBackend is a fleetBackend that also reports subsystem counters, for the mapping of
// every field to its series; internal/app's TestSubsystemCountersReachMetrics moves them
// through the real parts.
type countersBackend struct {
	*fleetBackend
	k Counters
}

func (b *countersBackend) Counters() Counters { return b.k }

func TestCountersReachMetrics(t *testing.T) {
	st := store.Stats{SharesEnqueued: 11, SharesCommitted: 12, Batches: 13, SharesShed: 14, SharesLost: 15, WriteErrors: 16,
		LossyQueued: 17, LosslessQueued: 18, Prunes: 19, RowsPruned: 20}
	b := &countersBackend{fleetBackend: newFleetBackend(1, true), k: Counters{
		Store: &st, StoreFailing: true,
		Handshakes: HandshakeCounters{Completed: 21, Failed: 22, AcceptErrors: 23},
		Meters:     []MeterCounters{{Name: "grid", Dropped: 24, Reconnects: 25, PushRejected: 26}},
		Telemetry: TelemetryCounters{SkippedBackoff: 27, SkippedBusy: 28, InFlight: 29, Miners: 30,
			LastRound: 1500 * time.Millisecond},
		AuditDropped: 31, EnergyWriteErrors: 32,
	}}
	body := metricsBody(t, b)
	for _, line := range []string{
		"hashgate_store_shares_queued_total 11", "hashgate_store_shares_written_total 12", "hashgate_store_share_batches_total 13",
		"hashgate_store_shares_shed_total 14", "hashgate_store_shares_lost_total 15", "hashgate_store_write_errors_total 16",
		`hashgate_store_queue_depth{queue="lossy"} 17`, `hashgate_store_queue_depth{queue="lossless"} 18`,
		"hashgate_store_prunes_total 19", "hashgate_store_rows_pruned_total 20", "hashgate_store_write_failing 1",
		`hashgate_sv2_handshakes_total{result="completed"} 21`, `hashgate_sv2_handshakes_total{result="failed"} 22`,
		"hashgate_sv2_accept_errors_total 23",
		`hashgate_meter_readings_dropped_total{meter="grid"} 24`, `hashgate_meter_reconnects_total{meter="grid"} 25`,
		`hashgate_meter_push_rejected_total{meter="grid"} 26`,
		`hashgate_telemetry_polls_skipped_total{reason="backoff"} 27`, `hashgate_telemetry_polls_skipped_total{reason="busy"} 28`,
		"hashgate_telemetry_polls_in_flight 29", "hashgate_telemetry_miners 30", "hashgate_telemetry_round_seconds 1.5",
		"hashgate_policy_audit_dropped_total 31", "hashgate_energy_write_errors_total 32",
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}

	// Without a store, no store series; a Backend without counters has none of them.
	b.k.Store = nil
	if body := metricsBody(t, b); strings.Contains(body, "hashgate_store_") {
		t.Error("store series without a store")
	}
	if body := metricsBody(t, newFleetBackend(1, true)); strings.Contains(body, "hashgate_sv2_handshakes_total") {
		t.Error("counter series from a Backend without CounterReader")
	}
}

func metricsBody(t *testing.T, b Backend) string {
	t.Helper()
	cfg := authConfig()
	cfg.PublicMetrics = true
	ts := httptest.NewServer(newServer(t, cfg, b).Handler())
	defer ts.Close()
	code, body, _ := newClient(t, ts.URL).do("GET", "/metrics", "")
	want(t, "metrics", code, http.StatusOK, body)
	return string(body)
}

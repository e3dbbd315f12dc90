package console

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hashgate/hashgate/store"
)

// CounterReader is the optional part of a Backend that reports the subsystems' own counters
// for /metrics: the store's share writer, the SV2 handshakes, the meter sources, the firmware
// poller and the audit queues. It is called once per scrape and must not block. A Backend
// without it exports none of these series.
type CounterReader interface {
	Counters() Counters
}

// Counters are counts since start, and a few gauges, of the parts behind the Backend.
type Counters struct {
	// Store is the share writer's counters; nil without a store.
	Store *store.Stats
	// StoreFailing is true while share commits fail (disk full, a lock held elsewhere); the
	// events are kept and retried meanwhile.
	StoreFailing bool
	Handshakes   HandshakeCounters
	Meters       []MeterCounters
	Telemetry    TelemetryCounters
	// AuditDropped counts policy audit records dropped because the store stopped answering
	// for long enough to fill the backlog.
	AuditDropped uint64
	// EnergyWriteErrors counts energy intervals the store refused.
	EnergyWriteErrors uint64
}

// HandshakeCounters are the SV2 (Noise) listeners' handshake outcomes, all listeners summed.
// Handshakes cut by their timeout or refused for want of a slot are in
// hashgate_stratum_connections_closed_total and _refused_total.
type HandshakeCounters struct {
	Completed, Failed, AcceptErrors uint64
}

// MeterCounters are one meter source's counters.
type MeterCounters struct {
	Name string
	// Dropped counts readings dropped because the policy's reading queue was full.
	Dropped uint64
	// Reconnects counts connections to the device or broker made again after the first.
	Reconnects uint64
	// PushRejected counts pushes the HTTP push endpoint refused (auth, size, syntax, queue).
	PushRejected uint64
}

// TelemetryCounters are the firmware status poller's. Polls and their outcomes are counted
// in hashgate_firmware_commands_total{command="status"}.
type TelemetryCounters struct {
	// SkippedBackoff and SkippedBusy count polls not made: the miner was in back-off after
	// failures, or its previous call was still running.
	SkippedBackoff, SkippedBusy uint64
	InFlight, Miners            int
	// LastRound is how long the last complete round took; well above the interval means the
	// fleet cannot be polled that often.
	LastRound time.Duration
}

// counterDescs are the series of Counters.
type counterDescs struct {
	storeQueued, storeWritten, storeBatches, storeShed, storeLost, storeErrors *prometheus.Desc
	storeFailing, storeDepth, storePrunes, storePruned                         *prometheus.Desc
	handshakes, acceptErrors                                                   *prometheus.Desc
	meterDropped, meterReconnects, meterPushRejected                           *prometheus.Desc
	telSkipped, telInFlight, telMiners, telRound                               *prometheus.Desc
	auditDropped, energyErrors                                                 *prometheus.Desc
}

func newCounterDescs(d func(name, help string, labels ...string) *prometheus.Desc) counterDescs {
	return counterDescs{
		storeQueued:  d("store_shares_queued_total", "Share events taken onto the store's queues."),
		storeWritten: d("store_shares_written_total", "Share ledger rows committed."),
		storeBatches: d("store_share_batches_total", "Share transactions committed."),
		storeShed:    d("store_shares_shed_total", "Share ledger rows dropped because the store's queue was full; still counted in the per-minute rollup."),
		storeLost:    d("store_shares_lost_total", "Share events in neither ledger nor rollup: overflow table full, a pool verdict that waited in vain for room, or unwritable at shutdown."),
		storeErrors:  d("store_write_errors_total", "Share commits that failed (disk full, database locked); each batch is kept and retried."),
		storeFailing: d("store_write_failing", "1 while share commits fail and are being retried."),
		storeDepth:   d("store_queue_depth", "Share events waiting in the store's queues.", "queue"),
		storePrunes:  d("store_prunes_total", "Retention prune runs completed."),
		storePruned:  d("store_rows_pruned_total", "Rows deleted by retention."),

		handshakes:   d("sv2_handshakes_total", "SV2 Noise handshakes by result (completed, failed: wrong key, garbage, a peer that hung up).", "result"),
		acceptErrors: d("sv2_accept_errors_total", "Errors accepting connections on the SV2 listeners."),

		meterDropped:      d("meter_readings_dropped_total", "Meter readings dropped because the policy's reading queue was full.", "meter"),
		meterReconnects:   d("meter_reconnects_total", "Connections to a meter or its broker made again after the first.", "meter"),
		meterPushRejected: d("meter_push_rejected_total", "Pushes the meter's HTTP push endpoint refused.", "meter"),

		telSkipped:  d("telemetry_polls_skipped_total", "Firmware status polls not made, by reason (backoff: the miner failed lately; busy: its last call still runs).", "reason"),
		telInFlight: d("telemetry_polls_in_flight", "Firmware status calls running now."),
		telMiners:   d("telemetry_miners", "Miners the firmware poller polls."),
		telRound:    d("telemetry_round_seconds", "How long the last full round of status polls took."),

		auditDropped: d("policy_audit_dropped_total", "Policy audit records dropped because the store did not keep up."),
		energyErrors: d("energy_write_errors_total", "Energy intervals the store refused."),
	}
}

func (c *counterDescs) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.storeQueued, c.storeWritten, c.storeBatches, c.storeShed, c.storeLost,
		c.storeErrors, c.storeFailing, c.storeDepth, c.storePrunes, c.storePruned, c.handshakes, c.acceptErrors,
		c.meterDropped, c.meterReconnects, c.meterPushRejected, c.telSkipped, c.telInFlight, c.telMiners, c.telRound,
		c.auditDropped, c.energyErrors} {
		ch <- d
	}
}

// collect emits the backend's Counters, when it has them.
func (c *counterDescs) collect(b Backend, gauge, counter metricFunc) {
	cr, ok := b.(CounterReader)
	if !ok {
		return
	}
	k := cr.Counters()
	if st := k.Store; st != nil {
		counter(c.storeQueued, float64(st.SharesEnqueued))
		counter(c.storeWritten, float64(st.SharesCommitted))
		counter(c.storeBatches, float64(st.Batches))
		counter(c.storeShed, float64(st.SharesShed))
		counter(c.storeLost, float64(st.SharesLost))
		counter(c.storeErrors, float64(st.WriteErrors))
		gauge(c.storeFailing, b2f(k.StoreFailing))
		gauge(c.storeDepth, float64(st.LossyQueued), "lossy")
		gauge(c.storeDepth, float64(st.LosslessQueued), "lossless")
		counter(c.storePrunes, float64(st.Prunes))
		counter(c.storePruned, float64(st.RowsPruned))
	}
	counter(c.handshakes, float64(k.Handshakes.Completed), "completed")
	counter(c.handshakes, float64(k.Handshakes.Failed), "failed")
	counter(c.acceptErrors, float64(k.Handshakes.AcceptErrors))
	for _, m := range k.Meters {
		counter(c.meterDropped, float64(m.Dropped), m.Name)
		counter(c.meterReconnects, float64(m.Reconnects), m.Name)
		counter(c.meterPushRejected, float64(m.PushRejected), m.Name)
	}
	counter(c.telSkipped, float64(k.Telemetry.SkippedBackoff), "backoff")
	counter(c.telSkipped, float64(k.Telemetry.SkippedBusy), "busy")
	gauge(c.telInFlight, float64(k.Telemetry.InFlight))
	gauge(c.telMiners, float64(k.Telemetry.Miners))
	gauge(c.telRound, k.Telemetry.LastRound.Seconds())
	counter(c.auditDropped, float64(k.AuditDropped))
	counter(c.energyErrors, float64(k.EnergyWriteErrors))
}

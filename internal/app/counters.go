package app

import "github.com/hashgate/hashgate/console"

var _ console.CounterReader = backend{}

// Counters gathers the counters the parts keep for themselves, for /metrics: the store's
// share writer, the SV2 handshakes, each meter source, the firmware poller and the queues in
// front of the store.
func (b backend) Counters() console.Counters {
	a := b.a
	st := a.Store.Stats()
	ps := a.Power.Stats()
	hs := a.Proxy.HandshakeStats()
	k := console.Counters{
		Store:        &st,
		StoreFailing: a.Store.WriteState().Err != nil,
		Handshakes:   console.HandshakeCounters{Completed: hs.Completed, Failed: hs.Failed, AcceptErrors: hs.AcceptErrors},
		Telemetry: console.TelemetryCounters{SkippedBackoff: ps.Telemetry.Skipped, SkippedBusy: ps.Telemetry.Busy,
			InFlight: ps.Telemetry.InFlight, Miners: ps.Telemetry.Miners, LastRound: ps.Telemetry.LastRound},
		EnergyWriteErrors: ps.EnergyWriteErrors,
	}
	for _, src := range a.Power.Meters() {
		ms := src.Stats()
		k.Meters = append(k.Meters, console.MeterCounters{Name: src.Name(), Dropped: ms.DroppedFull,
			Reconnects: ms.Reconnects, PushRejected: ms.PushRejected})
	}
	if r := a.Power.Runner(); r != nil {
		k.AuditDropped = r.AuditDropped()
	}
	return k
}

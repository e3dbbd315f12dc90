package console

import (
	"slices"
	"strconv"
	"time"
)

// OfflineWorker is a worker that disconnected and is still remembered (power.offline_ttl):
// the miners table lists it as offline instead of letting it vanish.
type OfflineWorker struct {
	Worker string
	Group  string    // the fleet group it matched when last connected; empty if unknown
	Since  time.Time // when its last connection closed (or, for one not seen in this run, when the run started)
	// LastSeen is when it was last connected or last sent a share; zero when this run never
	// saw it.
	LastSeen time.Time
	Holds    HoldList
}

// OfflineReader is implemented by a Reader that remembers disconnected workers. Without it
// the miners table lists connected workers only.
type OfflineReader interface {
	OfflineWorkers() []OfflineWorker
}

// offlineRows are the rows of the remembered workers not connected now, in the order given.
// An offline row has no connection, so ID 0.
func offlineRows(b Reader, connected []WorkerRow, firmware map[string]string) []WorkerRow {
	or, ok := b.(OfflineReader)
	if !ok {
		return nil
	}
	ws := or.OfflineWorkers()
	if len(ws) == 0 {
		return nil
	}
	live := make(map[string]struct{}, len(connected))
	for i := range connected {
		live[connected[i].Worker] = struct{}{}
	}
	out := make([]WorkerRow, 0, len(ws))
	for _, w := range ws {
		if _, ok := live[w.Worker]; ok || w.Worker == "" {
			continue // reconnected before the power inventory saw it
		}
		out = append(out, WorkerRow{Worker: w.Worker, State: stateOffline, Group: w.Group, Firmware: firmware[w.Group],
			Holds: w.Holds, Proof: "none", LastSeen: ms(w.LastSeen), OfflineSince: ms(w.Since)})
	}
	return out
}

// stateOffline is the state of a remembered, disconnected worker.
const stateOffline = "offline"

// findWorker finds a row by connection id, else by worker name among the connected workers,
// else among the offline ones: a worker that went offline keeps its page.
func (v *view) findWorker(key string) (WorkerRow, bool) {
	if id, err := strconv.ParseUint(key, 10, 64); err == nil {
		if i, ok := slices.BinarySearchFunc(v.workers, id, func(r WorkerRow, id uint64) int { return compareU64(r.ID, id) }); ok {
			return v.workers[i], true
		}
	}
	for _, rows := range [][]WorkerRow{v.workers, v.offline} {
		if i := slices.IndexFunc(rows, func(r WorkerRow) bool { return r.Worker == key }); i >= 0 {
			return rows[i], true
		}
	}
	return WorkerRow{}, false
}

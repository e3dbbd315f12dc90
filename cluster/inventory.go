package cluster

import (
	"time"

	"github.com/hashgate/hashgate/policy"
)

// Inventory is an instance's controllable miners, on hashgate.<site>.inv.<instance>. Deltas
// (Full false) carry changed miners and removed ids; a full snapshot, sent every lease_ttl,
// carries every miner in Parts messages sharing Snap, and a receiver that has all parts of
// one snapshot forgets the miners it did not list. Seq counts the instance's inventory
// messages since Boot, so a receiver sees a lost delta (and waits for the next snapshot).
type Inventory struct {
	Instance string `json:"instance"`
	// Boot identifies one run of the instance: a restart starts Seq again.
	Boot int64  `json:"boot"`
	Seq  uint64 `json:"seq"`
	Full bool   `json:"full,omitempty"`
	// Snap, Part and Parts split one full snapshot into messages of MaxMinersPerMessage.
	Snap  uint64 `json:"snap,omitempty"`
	Part  int    `json:"part,omitempty"`
	Parts int    `json:"parts,omitempty"`
	// Gen counts the instance's returns from isolation: a leader that sees it change takes
	// the instance's commanded states as they are, not as it last commanded them.
	Gen uint64 `json:"gen"`
	// Lost is the epoch the instance stopped obeying when it isolated itself (0: none). A
	// leader still at that epoch starts a new term so the instance can follow it again.
	Lost    uint64      `json:"lost,omitempty"`
	Miners  []MinerView `json:"miners,omitempty"`
	Removed []string    `json:"removed,omitempty"`
}

var _ Message = (*Inventory)(nil)

// maxSnapshotParts is the most parts a snapshot may claim: the site's whole miner limit in
// messages of MaxMinersPerMessage (1,049). A receiver keeps one entry per part of the
// snapshot it assembles, so a claim of more is refused, not remembered.
const maxSnapshotParts = (maxSiteMiners + MaxMinersPerMessage - 1) / MaxMinersPerMessage

// MinerView is policy.Miner on the wire, with the command its owner last carried out.
type MinerView struct {
	ID            string  `json:"id"`
	Worker        string  `json:"worker,omitempty"`
	Group         string  `json:"group"`
	Priority      int     `json:"priority,omitempty"`
	RatedKW       float64 `json:"rated_kw"`
	EfficiencyJTH float64 `json:"efficiency_j_th"`
	ThrottleMinKW float64 `json:"throttle_min_kw,omitempty"`
	ThrottleMaxKW float64 `json:"throttle_max_kw,omitempty"`
	RampMS        int64   `json:"ramp_ms,omitempty"`
	Proven        bool    `json:"proven,omitempty"`
	OperatorHold  bool    `json:"operator_hold,omitempty"`
	Commanded     Command `json:"commanded"`
}

// ViewOf is the wire view of m.
func ViewOf(m policy.Miner) MinerView {
	return MinerView{ID: m.ID, Worker: m.Worker, Group: m.Group, Priority: m.Priority, RatedKW: m.RatedKW,
		EfficiencyJTH: m.EfficiencyJTH, ThrottleMinKW: m.Throttle.MinKW, ThrottleMaxKW: m.Throttle.MaxKW,
		RampMS: m.Ramp.Milliseconds(), Proven: m.Proven, OperatorHold: m.OperatorHold,
		Commanded: Command{Action: Action(m.Commanded.Action), TargetKW: m.Commanded.TargetKW, Since: m.Commanded.Since}}
}

// Miner is the engine's view of v.
func (v MinerView) Miner() policy.Miner {
	return policy.Miner{ID: v.ID, Worker: v.Worker, Group: v.Group, Priority: v.Priority, RatedKW: v.RatedKW,
		EfficiencyJTH: v.EfficiencyJTH, Throttle: policy.ThrottleRange{MinKW: v.ThrottleMinKW, MaxKW: v.ThrottleMaxKW},
		Ramp: time.Duration(v.RampMS) * time.Millisecond, Proven: v.Proven, OperatorHold: v.OperatorHold,
		Commanded: v.Commanded.policy()}
}

// Validate implements Message.
func (m *Inventory) Validate() error {
	switch {
	case !name.MatchString(m.Instance):
		return badf("inventory: instance %q", m.Instance)
	case len(m.Miners)+len(m.Removed) > MaxMinersPerMessage:
		return badf("inventory: %d entries, more than %d", len(m.Miners)+len(m.Removed), MaxMinersPerMessage)
	case m.Full && (m.Parts < 1 || m.Part < 0 || m.Part >= m.Parts || m.Parts > maxSnapshotParts || len(m.Removed) > 0):
		return badf("inventory: snapshot part %d of %d", m.Part, m.Parts)
	case !m.Full && (m.Parts != 0 || m.Part != 0 || m.Snap != 0):
		return badf("inventory: a delta with snapshot parts")
	}
	for i := range m.Miners {
		if err := m.Miners[i].validate(); err != nil {
			return err
		}
	}
	for _, id := range m.Removed {
		if !idOK(id) {
			return badf("inventory: removed id %q", id)
		}
	}
	return nil
}

func (v *MinerView) validate() error {
	switch {
	case !idOK(v.ID) || len(v.Worker) > 256 || len(v.Group) > 256:
		return badf("miner %q: id, worker or group", v.ID)
	case !kwOK(v.RatedKW) || v.RatedKW == 0:
		return badf("miner %q: rated_kw %v", v.ID, v.RatedKW)
	case !finite(v.EfficiencyJTH) || v.EfficiencyJTH <= 0:
		return badf("miner %q: efficiency_j_th %v", v.ID, v.EfficiencyJTH)
	case !kwOK(v.ThrottleMinKW) || !kwOK(v.ThrottleMaxKW) || v.ThrottleMinKW > v.ThrottleMaxKW:
		return badf("miner %q: throttle range", v.ID)
	case v.RampMS < 0 || v.RampMS > int64(time.Hour/time.Millisecond):
		return badf("miner %q: ramp_ms %d", v.ID, v.RampMS)
	case !kwOK(v.Commanded.TargetKW):
		return badf("miner %q: commanded target_kw %v", v.ID, v.Commanded.TargetKW)
	}
	return nil
}

// DecodeInventory parses and checks an inventory message.
func DecodeInventory(b []byte) (*Inventory, error) {
	var m Inventory
	if err := decode(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

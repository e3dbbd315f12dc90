package firmware

import (
	"encoding/binary"
	"math"
)

// Braiins OS hardware and action messages (braiins/bos-plus-api v1.11.0,
// proto/bos/v1 cooling.proto, miner.proto, actions.proto), flattened to
// the fields hashgate reads. Temperature is {double degree_c = 1};
// TemperatureSensor is {optional uint32 id = 1; SensorLocation location =
// 2; Temperature temperature = 3}.

// pbPath walks nested single fields nums[0].nums[1]... and calls leaf for
// each field at the end of the path.
func pbPath(p []byte, nums []int, leaf func(pbField) error) error {
	return pbWalk(p, func(f pbField) error {
		if f.num != nums[0] {
			return nil
		}
		if len(nums) == 1 {
			return leaf(f)
		}
		if err := f.expect(pbBytes); err != nil {
			return err
		}
		return pbPath(f.p, nums[1:], leaf)
	})
}

// pbDoubleAt reads the double at path in p; ok is false when absent.
func pbDoubleAt(p []byte, path ...int) (v float64, ok bool, err error) {
	err = pbPath(p, path, func(f pbField) error {
		if err := f.expect(pbFixed64); err != nil {
			return err
		}
		v, ok = math.Float64frombits(f.v), true
		return nil
	})
	return v, ok, err
}

// pbUintAt reads the varint at path in p; ok is false when absent.
func pbUintAt(p []byte, path ...int) (v uint64, ok bool, err error) {
	err = pbPath(p, path, func(f pbField) error {
		if err := f.expect(pbVarint); err != nil {
			return err
		}
		v, ok = f.v, true
		return nil
	})
	return v, ok, err
}

func pbTemperature(degC float64) []byte { return pbAppendDouble(nil, 1, degC) }

// BraiinsCoolingState is GetCoolingStateResponse: repeated FanState fans =
// 1 {uint32 rpm = 2}; TemperatureSensor highest_temperature = 2.
type BraiinsCoolingState struct {
	FansRPM     []uint64
	HighestC    float64
	HasHighestC bool
}

// MarshalProto encodes the message.
func (m *BraiinsCoolingState) MarshalProto() []byte {
	var b []byte
	for i, rpm := range m.FansRPM {
		fan := pbAppendUint(pbAppendUint(nil, 1, uint64(i)), 2, rpm)
		b = pbAppendBytes(b, 1, fan, true)
	}
	if m.HasHighestC {
		b = pbAppendBytes(b, 2, pbAppendBytes(nil, 3, pbTemperature(m.HighestC), true), true)
	}
	return b
}

// UnmarshalProto decodes the message.
func (m *BraiinsCoolingState) UnmarshalProto(p []byte) error {
	*m = BraiinsCoolingState{}
	err := pbWalk(p, func(f pbField) error {
		if f.num != 1 {
			return nil
		}
		if err := f.expect(pbBytes); err != nil {
			return err
		}
		rpm, _, err := pbUintAt(f.p, 2)
		m.FansRPM = append(m.FansRPM, rpm)
		return err
	})
	if err != nil {
		return err
	}
	m.HighestC, m.HasHighestC, err = pbDoubleAt(p, 2, 3, 1)
	return err
}

// BraiinsHashboard is one Hashboard of GetHashboardsResponse (repeated
// Hashboard hashboards = 1): bool enabled = 2; TemperatureSensor
// highest_chip_temp = 6; Temperature board_temp = 7; WorkSolverStats stats
// = 8 {RealHashrate real_hashrate = 1 {GigaHashrate last_5s = 1}}.
type BraiinsHashboard struct {
	Enabled         bool
	ChipC, BoardC   float64
	HasChip, HasBrd bool
	GHs5s           float64
}

// BraiinsHashboards is GetHashboardsResponse.
type BraiinsHashboards struct {
	Boards []BraiinsHashboard
}

// MarshalProto encodes the message.
func (m *BraiinsHashboards) MarshalProto() []byte {
	var b []byte
	for _, h := range m.Boards {
		hb := pbAppendBool(nil, 2, h.Enabled)
		if h.HasChip {
			hb = pbAppendBytes(hb, 6, pbAppendBytes(nil, 3, pbTemperature(h.ChipC), true), true)
		}
		if h.HasBrd {
			hb = pbAppendBytes(hb, 7, pbTemperature(h.BoardC), true)
		}
		rate := pbAppendBytes(nil, 1, pbAppendDouble(nil, 1, h.GHs5s), true)
		hb = pbAppendBytes(hb, 8, pbAppendBytes(nil, 1, rate, true), true)
		b = pbAppendBytes(b, 1, hb, true)
	}
	return b
}

// UnmarshalProto decodes the message.
func (m *BraiinsHashboards) UnmarshalProto(p []byte) error {
	*m = BraiinsHashboards{}
	return pbWalk(p, func(f pbField) error {
		if f.num != 1 {
			return nil
		}
		if err := f.expect(pbBytes); err != nil {
			return err
		}
		var h BraiinsHashboard
		en, _, err := pbUintAt(f.p, 2)
		if err != nil {
			return err
		}
		h.Enabled = en != 0
		if h.ChipC, h.HasChip, err = pbDoubleAt(f.p, 6, 3, 1); err != nil {
			return err
		}
		if h.BoardC, h.HasBrd, err = pbDoubleAt(f.p, 7, 1); err != nil {
			return err
		}
		if h.GHs5s, _, err = pbDoubleAt(f.p, 8, 1, 1, 1); err != nil {
			return err
		}
		m.Boards = append(m.Boards, h)
		return nil
	})
}

// BraiinsMinerDetails is the part of GetMinerDetailsResponse hashgate
// reads: uint64 bosminer_uptime_s = 10; uint64 system_uptime_s = 11.
type BraiinsMinerDetails struct {
	BosminerUptimeS, SystemUptimeS uint64
	HasSystemUptime                bool
}

// MarshalProto encodes the message.
func (m *BraiinsMinerDetails) MarshalProto() []byte {
	b := pbAppendUint(nil, 10, m.BosminerUptimeS)
	if m.HasSystemUptime {
		b = pbAppendTag(b, 11, pbVarint)
		b = binary.AppendUvarint(b, m.SystemUptimeS)
	}
	return b
}

// UnmarshalProto decodes the message.
func (m *BraiinsMinerDetails) UnmarshalProto(p []byte) error {
	*m = BraiinsMinerDetails{}
	var err error
	if m.BosminerUptimeS, _, err = pbUintAt(p, 10); err != nil {
		return err
	}
	m.SystemUptimeS, m.HasSystemUptime, err = pbUintAt(p, 11)
	return err
}

// BraiinsLocate is SetLocateDeviceStatusRequest (bool enable = 1) and
// LocateDeviceStatusResponse (bool enabled = 1).
type BraiinsLocate struct {
	Enabled bool
}

// MarshalProto encodes the message.
func (m *BraiinsLocate) MarshalProto() []byte { return pbAppendBool(nil, 1, m.Enabled) }

// UnmarshalProto decodes the message.
func (m *BraiinsLocate) UnmarshalProto(p []byte) error {
	v, _, err := pbUintAt(p, 1)
	m.Enabled = v != 0
	return err
}

// braiinsHardware builds a hardware reading from the three replies: the
// hottest sensor of the cooling state and of every board, fan speeds,
// boards enabled and hashing as working, and the system uptime (bosminer's
// on firmware without it).
//
// A temperature that is not a finite number (a double on the wire can be
// NaN or infinite) counts as not reported.
func braiinsHardware(c *BraiinsCoolingState, h *BraiinsHashboards, d *BraiinsMinerDetails) Status {
	var st Status
	for _, rpm := range c.FansRPM {
		st.AddFan(float64(rpm))
	}
	if c.HasHighestC && finite(c.HighestC) {
		st.ChipTempC, st.Known = c.HighestC, st.Known|FieldChipTemp
	}
	if h.Boards != nil {
		working := 0
		for _, b := range h.Boards {
			if b.Enabled && b.GHs5s > 0 {
				working++
			}
			if b.HasChip && finite(b.ChipC) && (!st.Has(FieldChipTemp) || b.ChipC > st.ChipTempC) {
				st.ChipTempC, st.Known = b.ChipC, st.Known|FieldChipTemp
			}
			if b.HasBrd && finite(b.BoardC) && (!st.Has(FieldBoardTemp) || b.BoardC > st.BoardTempC) {
				st.BoardTempC, st.Known = b.BoardC, st.Known|FieldBoardTemp
			}
		}
		st.SetBoards(working, len(h.Boards))
	}
	up := d.BosminerUptimeS
	if d.HasSystemUptime {
		up = d.SystemUptimeS
	}
	if up > 0 || d.HasSystemUptime {
		st.UptimeS, st.Known = int64(min(up, math.MaxInt64)), st.Known|FieldUptime
	}
	return st
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

package firmware

import "math"

// Braiins OS public API messages (braiins/bos-plus-api, proto/bos/v1,
// v1.11.0), flattened to the fields hashgate uses. Field numbers are the
// proto's; nested wrapper messages such as Power{uint64 watt = 1} and
// GigaHashrate{double gigahash_per_second = 1} are encoded in place.

// BraiinsLoginRequest is AuthenticationService/Login's request:
// string username = 1; string password = 2.
type BraiinsLoginRequest struct {
	Username string
	Password string
}

// MarshalProto encodes the message.
func (m *BraiinsLoginRequest) MarshalProto() []byte {
	b := pbAppendBytes(nil, 1, []byte(m.Username), false)
	return pbAppendBytes(b, 2, []byte(m.Password), false)
}

// UnmarshalProto decodes the message.
func (m *BraiinsLoginRequest) UnmarshalProto(p []byte) error {
	*m = BraiinsLoginRequest{}
	return pbWalk(p, func(f pbField) error {
		switch f.num {
		case 1, 2:
			if err := f.expect(pbBytes); err != nil {
				return err
			}
			if f.num == 1 {
				m.Username = string(f.p)
			} else {
				m.Password = string(f.p)
			}
		}
		return nil
	})
}

// BraiinsLoginResponse: string token = 1; uint32 timeout_s = 2.
type BraiinsLoginResponse struct {
	Token    string
	TimeoutS uint32
}

// MarshalProto encodes the message.
func (m *BraiinsLoginResponse) MarshalProto() []byte {
	b := pbAppendBytes(nil, 1, []byte(m.Token), false)
	return pbAppendUint(b, 2, uint64(m.TimeoutS))
}

// UnmarshalProto decodes the message.
func (m *BraiinsLoginResponse) UnmarshalProto(p []byte) error {
	*m = BraiinsLoginResponse{}
	return pbWalk(p, func(f pbField) error {
		switch f.num {
		case 1:
			if err := f.expect(pbBytes); err != nil {
				return err
			}
			m.Token = string(f.p)
		case 2:
			if err := f.expect(pbVarint); err != nil {
				return err
			}
			m.TimeoutS = uint32(f.v)
		}
		return nil
	})
}

// BraiinsFlagResponse is the shape of PauseMiningResponse (bool
// already_paused = 1) and ResumeMiningResponse (bool already_mining = 1).
type BraiinsFlagResponse struct {
	Already bool
}

// MarshalProto encodes the message.
func (m *BraiinsFlagResponse) MarshalProto() []byte { return pbAppendBool(nil, 1, m.Already) }

// UnmarshalProto decodes the message.
func (m *BraiinsFlagResponse) UnmarshalProto(p []byte) error {
	*m = BraiinsFlagResponse{}
	return pbWalk(p, func(f pbField) error {
		if f.num == 1 {
			if err := f.expect(pbVarint); err != nil {
				return err
			}
			m.Already = f.v != 0
		}
		return nil
	})
}

// Braiins SaveAction values (common.proto).
const (
	BraiinsSaveActionSave         = 1
	BraiinsSaveActionSaveAndApply = 2
)

// BraiinsSetPowerTargetRequest: SaveAction save_action = 1;
// Power power_target = 2.
type BraiinsSetPowerTargetRequest struct {
	SaveAction uint64
	Watt       uint64
}

// MarshalProto encodes the message.
func (m *BraiinsSetPowerTargetRequest) MarshalProto() []byte {
	b := pbAppendUint(nil, 1, m.SaveAction)
	return pbAppendBytes(b, 2, pbAppendUint(nil, 1, m.Watt), true)
}

// UnmarshalProto decodes the message.
func (m *BraiinsSetPowerTargetRequest) UnmarshalProto(p []byte) error {
	*m = BraiinsSetPowerTargetRequest{}
	return pbWalk(p, func(f pbField) error {
		var err error
		switch f.num {
		case 1:
			if err = f.expect(pbVarint); err == nil {
				m.SaveAction = f.v
			}
		case 2:
			if err = f.expect(pbBytes); err == nil {
				m.Watt, err = pbNestedUint(f.p, 1)
			}
		}
		return err
	})
}

// BraiinsPowerResponse is SetPowerTargetResponse: Power power_target = 1.
type BraiinsPowerResponse struct {
	Watt uint64
}

// MarshalProto encodes the message.
func (m *BraiinsPowerResponse) MarshalProto() []byte {
	return pbAppendBytes(nil, 1, pbAppendUint(nil, 1, m.Watt), true)
}

// UnmarshalProto decodes the message.
func (m *BraiinsPowerResponse) UnmarshalProto(p []byte) error {
	*m = BraiinsPowerResponse{}
	return pbWalk(p, func(f pbField) error {
		if f.num != 1 {
			return nil
		}
		if err := f.expect(pbBytes); err != nil {
			return err
		}
		var err error
		m.Watt, err = pbNestedUint(f.p, 1)
		return err
	})
}

// BraiinsTunerState is GetTunerStateResponse: TunerState
// overall_tuner_state = 1; PowerTargetModeState power_target_mode_state =
// 2 { Power current_target = 2 }. HasTarget is false in hashrate-target
// mode.
type BraiinsTunerState struct {
	Overall   uint64
	HasTarget bool
	TargetW   uint64
}

// MarshalProto encodes the message.
func (m *BraiinsTunerState) MarshalProto() []byte {
	b := pbAppendUint(nil, 1, m.Overall)
	if m.HasTarget {
		mode := pbAppendBytes(nil, 2, pbAppendUint(nil, 1, m.TargetW), true)
		b = pbAppendBytes(b, 2, mode, true)
	}
	return b
}

// UnmarshalProto decodes the message.
func (m *BraiinsTunerState) UnmarshalProto(p []byte) error {
	*m = BraiinsTunerState{}
	return pbWalk(p, func(f pbField) error {
		switch f.num {
		case 1:
			if err := f.expect(pbVarint); err != nil {
				return err
			}
			m.Overall = f.v
		case 2:
			if err := f.expect(pbBytes); err != nil {
				return err
			}
			m.HasTarget = true
			return pbWalk(f.p, func(g pbField) error {
				if g.num != 2 {
					return nil
				}
				if err := g.expect(pbBytes); err != nil {
					return err
				}
				var err error
				m.TargetW, err = pbNestedUint(g.p, 1)
				return err
			})
		}
		return nil
	})
}

// BraiinsMinerStats is GetMinerStatsResponse: WorkSolverStats miner_stats
// = 2 { RealHashrate real_hashrate = 1 { GigaHashrate last_5s = 1 } };
// MinerPowerStats power_stats = 3 { Power approximated_consumption = 1 }.
type BraiinsMinerStats struct {
	GHs5s  float64
	PowerW uint64
}

// MarshalProto encodes the message.
func (m *BraiinsMinerStats) MarshalProto() []byte {
	giga := pbAppendDouble(nil, 1, m.GHs5s)
	real := pbAppendBytes(nil, 1, giga, true)
	b := pbAppendBytes(nil, 2, pbAppendBytes(nil, 1, real, true), true)
	power := pbAppendBytes(nil, 1, pbAppendUint(nil, 1, m.PowerW), true)
	return pbAppendBytes(b, 3, power, true)
}

// UnmarshalProto decodes the message.
func (m *BraiinsMinerStats) UnmarshalProto(p []byte) error {
	*m = BraiinsMinerStats{}
	// path walks nested single fields down to a leaf.
	var path func(p []byte, nums []int, leaf func(pbField) error) error
	path = func(p []byte, nums []int, leaf func(pbField) error) error {
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
			return path(f.p, nums[1:], leaf)
		})
	}
	if err := path(p, []int{2, 1, 1, 1}, func(f pbField) error {
		if err := f.expect(pbFixed64); err != nil {
			return err
		}
		m.GHs5s = math.Float64frombits(f.v)
		return nil
	}); err != nil {
		return err
	}
	return path(p, []int{3, 1, 1}, func(f pbField) error {
		if err := f.expect(pbVarint); err != nil {
			return err
		}
		m.PowerW = f.v
		return nil
	})
}

// Braiins MinerStatus values (miner.proto).
const (
	BraiinsMinerNormal = 2
	BraiinsMinerPaused = 3
)

// BraiinsMinerStatus is GetMinerStatusResponse: MinerStatus status = 1.
type BraiinsMinerStatus struct {
	Status uint64
}

// MarshalProto encodes the message.
func (m *BraiinsMinerStatus) MarshalProto() []byte { return pbAppendUint(nil, 1, m.Status) }

// UnmarshalProto decodes the message.
func (m *BraiinsMinerStatus) UnmarshalProto(p []byte) error {
	*m = BraiinsMinerStatus{}
	return pbWalk(p, func(f pbField) error {
		if f.num == 1 {
			if err := f.expect(pbVarint); err != nil {
				return err
			}
			m.Status = f.v
		}
		return nil
	})
}

// BraiinsConstraints is GetConstraintsResponse: TunerConstraints
// tuner_constraints = 1 { PowerConstraints power_target = 1 { Power
// default = 1; Power min = 2; Power max = 3 } }.
type BraiinsConstraints struct {
	DefaultW, MinW, MaxW uint64
}

// MarshalProto encodes the message.
func (m *BraiinsConstraints) MarshalProto() []byte {
	var pc []byte
	for i, w := range []uint64{m.DefaultW, m.MinW, m.MaxW} {
		pc = pbAppendBytes(pc, i+1, pbAppendUint(nil, 1, w), true)
	}
	return pbAppendBytes(nil, 1, pbAppendBytes(nil, 1, pc, true), true)
}

// UnmarshalProto decodes the message.
func (m *BraiinsConstraints) UnmarshalProto(p []byte) error {
	*m = BraiinsConstraints{}
	return pbWalk(p, func(f pbField) error {
		if f.num != 1 {
			return nil
		}
		if err := f.expect(pbBytes); err != nil {
			return err
		}
		return pbWalk(f.p, func(g pbField) error {
			if g.num != 1 {
				return nil
			}
			if err := g.expect(pbBytes); err != nil {
				return err
			}
			return pbWalk(g.p, func(h pbField) error {
				if h.num < 1 || h.num > 3 {
					return nil
				}
				if err := h.expect(pbBytes); err != nil {
					return err
				}
				w, err := pbNestedUint(h.p, 1)
				switch h.num {
				case 1:
					m.DefaultW = w
				case 2:
					m.MinW = w
				case 3:
					m.MaxW = w
				}
				return err
			})
		})
	})
}

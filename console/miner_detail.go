package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/hashgate/hashgate/policy/firmware"
	"github.com/hashgate/hashgate/store"
)

// MinerHardware is a worker's latest firmware reading, as the hardware part of GET
// /api/v1/workers/{id}. A field the firmware does not report is absent, not zero.
type MinerHardware struct {
	Firmware string `json:"firmware"`
	// Controllable is true when firmware commands (reboot, locate, power profile) can reach
	// the miner now.
	Controllable bool `json:"controllable"`
	// Unvouched is true when the miner's address is outside what its [[fleet]] group vouches
	// for (networks, addresses, an IP-prefix match): the group's credentials are withheld
	// from it and its readings are shown but not trusted by the policy.
	Unvouched bool `json:"unvouched,omitempty"`
	// State is running, sleeping or unknown, as the firmware said it at ReadMs.
	State  string `json:"state,omitempty"`
	ReadMs int64  `json:"read_ms,omitempty"`
	// PolledMs is the last poll, answered or not; PollError its failure.
	PolledMs      int64    `json:"polled_ms,omitempty"`
	PollError     string   `json:"poll_error,omitempty"`
	PowerW        *float64 `json:"power_w,omitempty"`
	PowerTargetW  *float64 `json:"power_target_w,omitempty"`
	HashrateTHs   *float64 `json:"hashrate_ths,omitempty"`
	JPerTH        *float64 `json:"j_per_th,omitempty"`
	BoardTempC    *float64 `json:"board_temp_c,omitempty"`
	ChipTempC     *float64 `json:"chip_temp_c,omitempty"`
	FansRPM       []int    `json:"fans_rpm,omitempty"`
	BoardsWorking *int     `json:"boards_working,omitempty"`
	BoardsTotal   *int     `json:"boards_total,omitempty"`
	UptimeS       *int64   `json:"uptime_s,omitempty"`
	// ProfileW is the operator's power profile, the miner's ceiling; absent when none.
	ProfileW int `json:"power_profile_w,omitempty"`
}

// NewMinerHardware builds the view of one firmware reading: st read at readAt (zero: never
// answered), the last poll at polledAt with pollErr. Non-finite numbers are left out.
func NewMinerHardware(fw string, controllable bool, st firmware.Status, readAt, polledAt time.Time, pollErr error, profileW int) MinerHardware {
	h := MinerHardware{Firmware: fw, Controllable: controllable, ProfileW: profileW, PolledMs: ms(polledAt)}
	if pollErr != nil {
		h.PollError = pollErrorText(pollErr)
	}
	if readAt.IsZero() {
		return h
	}
	h.State, h.ReadMs = st.State.String(), ms(readAt)
	num := func(f firmware.Field, v float64) *float64 {
		if !st.Has(f) || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	h.PowerW, h.PowerTargetW, h.HashrateTHs = num(firmware.FieldPower, st.PowerW), num(firmware.FieldPowerTarget, st.PowerTargetW), num(firmware.FieldHashrate, st.HashrateTHs)
	h.BoardTempC, h.ChipTempC = num(firmware.FieldBoardTemp, st.BoardTempC), num(firmware.FieldChipTemp, st.ChipTempC)
	if j, ok := st.JPerTH(); ok && !math.IsNaN(j) && !math.IsInf(j, 0) {
		h.JPerTH = &j
	}
	if st.Has(firmware.FieldFans) {
		h.FansRPM = make([]int, 0, st.FanCount)
		for _, f := range st.Fans() {
			h.FansRPM = append(h.FansRPM, int(f))
		}
	}
	if st.Has(firmware.FieldBoards) {
		w, t := int(st.BoardsWorking), int(st.BoardsTotal)
		h.BoardsWorking, h.BoardsTotal = &w, &t
	}
	if st.Has(firmware.FieldUptime) {
		u := st.UptimeS
		h.UptimeS = &u
	}
	return h
}

// pollErrorText says why a poll failed without echoing what a miner sent.
func pollErrorText(err error) string {
	switch {
	case errors.Is(err, firmware.ErrTimeout):
		return "timed out"
	case errors.Is(err, firmware.ErrAuth):
		return "credentials refused"
	case errors.Is(err, firmware.ErrProtocol):
		return "unreadable reply"
	case errors.Is(err, firmware.ErrUnsupported):
		return "not supported by the firmware"
	case errors.Is(err, firmware.ErrSessionBusy):
		return "another client holds the miner's session"
	}
	return "unreachable"
}

// MinerReader is implemented by a Reader that knows miners' firmware readings and their
// share history. Without it the worker detail has no hardware and no history.
type MinerReader interface {
	// MinerHardware returns worker's latest firmware reading; false when it has none.
	MinerHardware(worker string) (MinerHardware, bool)
	// WorkerHashrate returns worker's hashrate history (store.WorkerHashrate);
	// ErrUnavailable without a store.
	WorkerHashrate(ctx context.Context, worker string, from, to time.Time, step time.Duration) ([]store.HashratePoint, error)
}

// MinerCommand is a firmware command for a list of workers.
type MinerCommand struct {
	Kind string // reboot, locate or power_profile
	On   bool   // locate: LED on or off
	// Watts is the power profile (0 clears it).
	Watts int
}

// MinerCommandResult is one worker's outcome; Error is empty when the firmware took it.
type MinerCommandResult struct {
	Worker string
	Error  string
	// Deferred: a power profile saved for a paused miner, sent when it runs again.
	Deferred bool
}

// MinerCommander is implemented by a Controller that sends firmware commands. It records one
// audit entry per worker with the actor; results come in the order of workers.
type MinerCommander interface {
	MinerCommand(ctx context.Context, actor string, cmd MinerCommand, workers []string) ([]MinerCommandResult, error)
}

// firmwareWait bounds one bulk firmware command: the miners are done in parallel, each
// within the power controller's own bound (a slow stock Antminer takes ~21 s per call).
const firmwareWait = 2 * time.Minute

// historyWindows are the hashrate history windows and their steps: about a hundred points or
// fewer each, read from the per-minute and hourly share roll-ups.
var historyWindows = map[string]time.Duration{"1h": time.Minute, "24h": 15 * time.Minute, "7d": time.Hour}

var historySpan = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

// hashratePoint is one step of GET /api/v1/workers/{name}/hashrate.
type hashratePoint struct {
	AtMs       int64   `json:"at_ms"`
	HashrateHs float64 `json:"hashrate_hs"`
}

// historyResponse is GET /api/v1/workers/{name}/hashrate.
type historyResponse struct {
	Worker string          `json:"worker"`
	Window string          `json:"window"`
	StepS  int64           `json:"step_s"`
	Points []hashratePoint `json:"points"`
}

// handleWorkerHashrate is GET /api/v1/workers/{name}/hashrate?window=1h|24h|7d: the worker's
// hashrate from the work of its accepted shares per step, oldest first. The last step is
// still filling.
func (s *Server) handleWorkerHashrate(w http.ResponseWriter, r *http.Request, _ identity) {
	name := r.PathValue("name")
	if name == "" || len(name) > maxWorkerName {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("a worker name is 1..%d bytes", maxWorkerName))
		return
	}
	window := r.URL.Query().Get("window")
	if window == "" {
		window = "1h"
	}
	step, ok := historyWindows[window]
	if !ok {
		writeError(w, http.StatusBadRequest, "window must be 1h, 24h or 7d")
		return
	}
	mr, ok := s.b.(MinerReader)
	if !ok {
		s.backendError(w, fmt.Errorf("%w: no share history", ErrUnavailable))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendWait)
	defer cancel()
	to := s.clk.Now()
	pts, err := mr.WorkerHashrate(ctx, name, to.Add(-historySpan[window]), to, step)
	if err != nil {
		s.backendError(w, err)
		return
	}
	out := historyResponse{Worker: name, Window: window, StepS: int64(step / time.Second), Points: make([]hashratePoint, len(pts))}
	for i, p := range pts {
		out.Points[i] = hashratePoint{AtMs: p.At * 1000, HashrateHs: fin(p.HashesPerSec)}
	}
	writeJSON(w, http.StatusOK, out)
}

// firmwareActions are the bulk actions sent through the miners' firmware.
var firmwareActions = map[string]MinerCommand{
	"reboot":        {Kind: "reboot"},
	"locate_on":     {Kind: "locate", On: true},
	"locate_off":    {Kind: "locate"},
	"power_profile": {Kind: "power_profile"},
}

// bulkFirmware sends a firmware action to every listed worker in one backend call (the power
// controller runs them in parallel), then answers each worker's outcome as handleBulk does.
func (s *Server) bulkFirmware(w http.ResponseWriter, r *http.Request, id identity, req *bulkRequest) {
	mc, ok := s.b.(MinerCommander)
	if !ok {
		s.backendError(w, fmt.Errorf("%w: no firmware control", ErrUnavailable))
		return
	}
	cmd := firmwareActions[req.Action]
	if req.Watts != nil {
		cmd.Watts = *req.Watts
	}
	ctx, cancel := context.WithTimeout(r.Context(), firmwareWait)
	defer cancel()
	res, err := mc.MinerCommand(ctx, id.actor(), cmd, req.Workers)
	if err != nil {
		s.log.Info().Err(err).Str("action", req.Action).Str("actor", id.actor()).Msg("console control refused")
		s.backendError(w, err)
		return
	}
	out := bulkResponse{Action: req.Action, Actor: id.actor(), Results: make([]bulkResult, 0, len(res))}
	var detail json.RawMessage
	if req.Watts != nil {
		detail, _ = json.Marshal(map[string]int{"watts": *req.Watts})
	}
	for _, x := range res {
		br := bulkResult{Worker: x.Worker, OK: x.Error == "", Error: x.Error, Deferred: x.Deferred}
		if br.OK {
			out.Done++
			s.hub.events.add(EventView{At: s.clk.Now(), Kind: "control." + req.Action, Level: levelInfo, Subject: x.Worker,
				Actor: id.actor(), Text: id.actor() + " " + firmwareText(req, x.Worker), Detail: detail})
		} else {
			out.Failed++
		}
		out.Results = append(out.Results, br)
	}
	s.log.Info().Str("action", req.Action).Str("actor", id.actor()).Int("done", out.Done).Int("failed", out.Failed).Msg("console control")
	writeJSON(w, http.StatusOK, out)
}

func firmwareText(req *bulkRequest, worker string) string {
	switch req.Action {
	case "reboot":
		return "rebooted " + worker
	case "locate_on":
		return "turned the locate LED of " + worker + " on"
	case "locate_off":
		return "turned the locate LED of " + worker + " off"
	}
	if req.Watts != nil && *req.Watts > 0 {
		return fmt.Sprintf("set a %d W power profile on %s", *req.Watts, worker)
	}
	return "cleared the power profile of " + worker
}

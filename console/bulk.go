package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// maxBulkWorkers bounds one bulk request: a page of the miners table as the console shows it.
// Each worker is one audited control call, so a request takes up to this many store writes.
const (
	maxBulkWorkers = 200
	maxWorkerName  = 256
)

// bulkRequest is POST /api/v1/workers/bulk: one action for a list of worker names.
type bulkRequest struct {
	// Action is pause or resume (the gate), or reboot, locate_on, locate_off or
	// power_profile (the firmware, miner_detail.go).
	Action  string   `json:"action"`
	Workers []string `json:"workers"`
	// Watts is the power profile's target (power_profile only; 0 clears it).
	Watts *int `json:"watts,omitempty"`
}

// maxProfileW bounds a power profile before any firmware is asked: no miner draws 100 kW.
const maxProfileW = 100_000

// bulkResult is one worker's outcome; Error is set when it failed.
type bulkResult struct {
	Worker string `json:"worker"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	// Deferred: a power profile saved for a paused miner, sent when it runs again.
	Deferred bool `json:"deferred,omitempty"`
}

// bulkResponse answers a bulk request that was valid: every worker's outcome in the order
// given, as one failing does not stop the others.
type bulkResponse struct {
	Action  string       `json:"action"`
	Actor   string       `json:"actor"`
	Done    int          `json:"done"`
	Failed  int          `json:"failed"`
	Results []bulkResult `json:"results"`
}

// handleBulk applies pause or resume to each listed worker as the single-worker endpoints
// do (the same role, one audit record and one event per worker).
func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request, id identity) {
	var req bulkRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, ok := firmwareActions[req.Action]; ok {
		s.bulkFirmware(w, r, id, &req)
		return
	}
	action, f := "pause_worker", s.b.PauseWorker
	if req.Action == "resume" {
		action, f = "resume_worker", s.b.ResumeWorker
	}
	out := bulkResponse{Action: req.Action, Actor: id.actor(), Results: make([]bulkResult, 0, len(req.Workers))}
	for _, name := range req.Workers {
		err := r.Context().Err()
		if err == nil {
			err = s.apply(r.Context(), id, action, name, nil, func(ctx context.Context) error { return f(ctx, id.actor(), name) })
		}
		res := bulkResult{Worker: name, OK: err == nil}
		if err != nil {
			res.Error = bulkError(err)
			out.Failed++
		} else {
			out.Done++
		}
		out.Results = append(out.Results, res)
	}
	writeJSON(w, http.StatusOK, out)
}

func (req *bulkRequest) validate() error {
	_, fw := firmwareActions[req.Action]
	switch {
	case req.Action != "pause" && req.Action != "resume" && !fw:
		return errors.New("action must be pause, resume, reboot, locate_on, locate_off or power_profile")
	case req.Action == "power_profile" && (req.Watts == nil || *req.Watts < 0 || *req.Watts > maxProfileW):
		return fmt.Errorf("power_profile needs watts: 0 (clear) or a target up to %d W", maxProfileW)
	case req.Action != "power_profile" && req.Watts != nil:
		return errors.New("watts is for power_profile only")
	}
	if len(req.Workers) == 0 || len(req.Workers) > maxBulkWorkers {
		return fmt.Errorf("workers must list 1..%d names", maxBulkWorkers)
	}
	seen := make(map[string]struct{}, len(req.Workers))
	for i, n := range req.Workers {
		switch _, dup := seen[n]; {
		case n == "" || len(n) > maxWorkerName:
			return fmt.Errorf("workers[%d]: a name is 1..%d bytes", i, maxWorkerName)
		case dup:
			return fmt.Errorf("workers[%d]: %s is listed twice", i, strconv.Quote(n))
		}
		seen[n] = struct{}{}
	}
	return nil
}

// bulkError is the per-worker error text, as the single endpoints' statuses say it.
func bulkError(err error) string {
	switch {
	case errors.Is(err, ErrUnavailable):
		return "not available: " + err.Error()
	case errors.Is(err, ErrNotFound):
		return err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "not applied: the request ended first"
	}
	return "backend error"
}

package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode"
)

// ErrInvalid is returned by a control whose input the backend refuses (a pool url it cannot
// dial, a missing user); the console answers 400 with its text.
var ErrInvalid = errors.New("console: invalid")

// ErrConflict is returned by a control that cannot apply in the current state (a pool name
// already used, the last pool, a switch to a pool that is down); the console answers 409.
var ErrConflict = errors.New("console: conflict")

// PoolController is the side of a Backend that changes the pools: the wiring validates each
// change as [[pool]] in the config file is validated, records it in the audit trail with the
// actor (never a password), persists it so a restart runs the same pools, and applies it to
// the running proxy. A Backend without it answers the pool controls 409 (not available).
type PoolController interface {
	// AddPool adds a pool; a nil Priority puts it after every other.
	AddPool(ctx context.Context, actor string, p PoolSpec) error
	// EditPool changes the fields of p that are set; a changed url, user or password redials
	// that pool, a changed priority or weight does not.
	EditPool(ctx context.Context, actor, name string, p PoolPatch) error
	// RemovePool removes a pool; the last one cannot be (ErrConflict).
	RemovePool(ctx context.Context, actor, name string) error
	// ReorderPools gives the pools, all named once, priorities in the order given.
	ReorderPools(ctx context.Context, actor string, names []string) error
	// SwitchPool moves the miners to a healthy pool and keeps them there until
	// ClearPoolSwitch, an edit or removal of that pool, or its failure.
	SwitchPool(ctx context.Context, actor, name string) error
	ClearPoolSwitch(ctx context.Context, actor, name string) error
}

// PoolSpec is a new pool, as POST /api/v1/pools takes it.
type PoolSpec struct {
	Name     string   `json:"name"`
	URL      string   `json:"url"`
	User     string   `json:"user"`
	Password string   `json:"password"`
	Priority *int     `json:"priority,omitempty"`
	Weight   *float64 `json:"weight,omitempty"` // [[pool]] weight: its share of a hashrate split
}

// PoolPatch is PUT /api/v1/pools/{name}: the fields to change. A pool's password is never
// sent back, so an edit without one keeps it.
type PoolPatch struct {
	URL      *string  `json:"url,omitempty"`
	User     *string  `json:"user,omitempty"`
	Password *string  `json:"password,omitempty"`
	Priority *int     `json:"priority,omitempty"`
	Weight   *float64 `json:"weight,omitempty"`
}

// reorderRequest is POST /api/v1/pools/reorder.
type reorderRequest struct {
	Names []string `json:"names"`
}

// Bounds on what one pool request may carry; the backend validates the meaning.
const (
	maxPoolName  = 64
	maxPoolField = 512
	maxPools     = 64
	maxPriority  = 1_000_000
)

// poolRoutes mounts the pool controls beside GET /api/v1/pools.
func (s *Server) poolRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/pools", s.control(s.handleAddPool))
	mux.Handle("PUT /api/v1/pools/{name}", s.control(s.handleEditPool))
	mux.Handle("DELETE /api/v1/pools/{name}", s.control(s.handleRemovePool))
	mux.Handle("POST /api/v1/pools/reorder", s.control(s.handleReorderPools))
	mux.Handle("POST /api/v1/pools/{name}/switch", s.control(s.handleSwitchPool(true)))
	mux.Handle("DELETE /api/v1/pools/{name}/switch", s.control(s.handleSwitchPool(false)))
}

func (s *Server) pools(w http.ResponseWriter) (PoolController, bool) {
	pc, ok := s.b.(PoolController)
	if !ok {
		writeError(w, http.StatusConflict, "not available: pools cannot be changed here")
	}
	return pc, ok
}

// checkText refuses an empty (when required), oversized or control-character field, naming
// the key as the request spells it.
func checkText(key, v string, required bool, limit int) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%s: must be set", key)
	case len(v) > limit:
		return fmt.Errorf("%s: at most %d bytes", key, limit)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%s: control characters or invalid UTF-8 are not allowed", key)
		}
	}
	return nil
}

func checkPriority(p *int) error {
	if p != nil && (*p < -maxPriority || *p > maxPriority) {
		return fmt.Errorf("priority: must be within ±%d", maxPriority)
	}
	return nil
}

// poolDetail is what the live event log shows of a pool change: never the password, only
// whether one was given.
func poolDetail(url, user *string, password *string, priority *int, weight *float64) map[string]any {
	d := map[string]any{}
	if url != nil {
		d["url"] = *url
	}
	if user != nil {
		d["user"] = *user
	}
	if password != nil {
		d["password_changed"] = true
	}
	if priority != nil {
		d["priority"] = *priority
	}
	if weight != nil {
		d["weight"] = *weight
	}
	return d
}

func (s *Server) handleAddPool(w http.ResponseWriter, r *http.Request, id identity) {
	pc, ok := s.pools(w)
	if !ok {
		return
	}
	var req PoolSpec
	if !readJSON(w, r, &req) {
		return
	}
	for _, err := range []error{checkText("name", req.Name, true, maxPoolName), checkText("url", req.URL, true, maxPoolField),
		checkText("user", req.User, true, maxPoolField), checkText("password", req.Password, false, maxPoolField), checkPriority(req.Priority)} {
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	detail := poolDetail(&req.URL, &req.User, nil, req.Priority, req.Weight)
	s.act(w, r, id, "add_pool", req.Name, detail, func(ctx context.Context) error { return pc.AddPool(ctx, id.actor(), req) })
}

func (s *Server) handleEditPool(w http.ResponseWriter, r *http.Request, id identity) {
	pc, ok := s.pools(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	var req PoolPatch
	if !readJSON(w, r, &req) {
		return
	}
	if req.URL == nil && req.User == nil && req.Password == nil && req.Priority == nil && req.Weight == nil {
		writeError(w, http.StatusBadRequest, "nothing to change: give url, user, password, priority or weight")
		return
	}
	for _, f := range []struct {
		key      string
		v        *string
		required bool
	}{{"url", req.URL, true}, {"user", req.User, true}, {"password", req.Password, false}} {
		if f.v == nil {
			continue
		}
		if err := checkText(f.key, *f.v, f.required, maxPoolField); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if err := checkPriority(req.Priority); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	detail := poolDetail(req.URL, req.User, req.Password, req.Priority, req.Weight)
	s.act(w, r, id, "edit_pool", name, detail, func(ctx context.Context) error { return pc.EditPool(ctx, id.actor(), name, req) })
}

func (s *Server) handleRemovePool(w http.ResponseWriter, r *http.Request, id identity) {
	pc, ok := s.pools(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	s.act(w, r, id, "remove_pool", name, nil, func(ctx context.Context) error { return pc.RemovePool(ctx, id.actor(), name) })
}

func (s *Server) handleReorderPools(w http.ResponseWriter, r *http.Request, id identity) {
	pc, ok := s.pools(w)
	if !ok {
		return
	}
	var req reorderRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.Names) == 0 || len(req.Names) > maxPools {
		writeError(w, http.StatusBadRequest, "names: give every pool once, "+strconv.Itoa(maxPools)+" at most")
		return
	}
	seen := make(map[string]bool, len(req.Names))
	for _, n := range req.Names {
		if seen[n] {
			writeError(w, http.StatusBadRequest, "names: "+strconv.Quote(n)+" given twice")
			return
		}
		seen[n] = true
	}
	s.act(w, r, id, "reorder_pools", "", map[string]any{"names": req.Names}, func(ctx context.Context) error {
		return pc.ReorderPools(ctx, id.actor(), req.Names)
	})
}

func (s *Server) handleSwitchPool(on bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, id identity) {
		pc, ok := s.pools(w)
		if !ok {
			return
		}
		name := r.PathValue("name")
		if on {
			s.act(w, r, id, "switch_pool", name, nil, func(ctx context.Context) error { return pc.SwitchPool(ctx, id.actor(), name) })
		} else {
			s.act(w, r, id, "clear_pool_switch", name, nil, func(ctx context.Context) error { return pc.ClearPoolSwitch(ctx, id.actor(), name) })
		}
	}
}

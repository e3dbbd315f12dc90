package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

const (
	maxBody       = 16 << 10
	maxCapFor     = 7 * 24 * time.Hour
	maxDRDuration = 7 * 24 * time.Hour
	backendWait   = 5 * time.Second // bound on one store query or control call
)

// apiError is every error body: {"error": "..."}.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(apiError{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readJSON decodes a small JSON body into v, rejecting other content types (a cross-site
// form cannot send application/json without a CORS preflight), unknown fields and trailing
// data.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "want Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad JSON body: trailing data")
		return false
	}
	return true
}

// backendError maps Backend errors to statuses.
func (s *Server) backendError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusConflict, "not available: "+err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.log.Warn().Err(err).Msg("console backend call failed")
		writeError(w, http.StatusInternalServerError, "backend error")
	}
}

// loginRequest is the body of POST /api/v1/login.
type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// meResponse says who the caller is; the UI needs csrf_token for control requests.
type meResponse struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	Role         Role   `json:"role"`
	CSRFToken    string `json:"csrf_token,omitempty"`
	AuthRequired bool   `json:"auth_required"`
	Version      string `json:"version"`
}

func (s *Server) me(id identity) meResponse {
	m := meResponse{Name: id.name, Kind: id.kind, Role: id.role, AuthRequired: s.auth.configured(), Version: s.version}
	if id.sess != nil {
		m.CSRFToken = id.sess.csrf
	}
	return m
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	ip := clientIP(r)
	// Any client can cause these lines, so they are sampled; the typed name is left out,
	// as people type passwords into it.
	plog := s.log.Sample(s.auth.peerLog)
	if !s.auth.allowLogin(ip) {
		plog.Info().Str("ip", ip).Msg("console login rate-limited")
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "too many login attempts; wait a minute")
		return
	}
	var req loginRequest
	if !readJSON(w, r, &req) {
		return
	}
	id, sess, err := s.auth.login(r.Context(), req.Name, req.Password)
	switch {
	case errors.Is(err, errVerifyBusy):
		s.dropCounts.add("console_login_busy")
		plog.Warn().Str("ip", ip).Int64("waiting", s.auth.waiting.Load()).Msg("console login refused: password checks busy")
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil && errors.Is(err, r.Context().Err()):
		plog.Info().Str("ip", ip).Msg("console login abandoned by its client before the password check")
		return
	case err != nil:
		plog.Info().Err(err).Str("ip", ip).Msg("console login failed")
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS(), Expires: sess.expires})
	s.log.Info().Str("ip", ip).Str("user", req.Name).Msg("console login")
	writeJSON(w, http.StatusOK, s.me(identity{kind: "user", name: sess.user, role: sess.role, sess: sess}))
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		id, ok := s.auth.identify(r)
		if ok && id.sess != nil && !s.csrfOK(r, id) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token or origin")
			return
		}
		s.auth.logout(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS(), MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleMe(w http.ResponseWriter, _ *http.Request, id identity) {
	writeJSON(w, http.StatusOK, s.me(id))
}

func (s *Server) handleSnapshot(w http.ResponseWriter, _ *http.Request, _ identity) {
	v := s.hub.view()
	writeJSON(w, http.StatusOK, snapshotMsg{Type: "snapshot", Overview: v.overview, History: s.hub.historyCopy(),
		Pools: v.pools, Policy: v.policy, Events: s.hub.events.since(0, snapshotEvents)})
}

func (s *Server) handleOverview(w http.ResponseWriter, _ *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, s.hub.view().overview)
}

func (s *Server) handleHistory(w http.ResponseWriter, _ *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, s.hub.historyCopy())
}

// workersResponse is GET /api/v1/workers: one page of the miners table.
type workersResponse struct {
	At time.Time `json:"at"`
	workerPage
}

func (s *Server) handleWorkers(w http.ResponseWriter, r *http.Request, _ identity) {
	q, err := parseWorkerQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	v := s.hub.view()
	writeJSON(w, http.StatusOK, workersResponse{At: v.overview.At, workerPage: q.page(v.workers, v.offline)})
}

// workerDetail is GET /api/v1/workers/{id}, where id is a connection id or a worker name.
type workerDetail struct {
	Worker    WorkerRow           `json:"worker"`
	Policy    *policy.MinerStatus `json:"policy,omitempty"`
	Decisions []DecisionView      `json:"decisions"`
	// Hardware is the miner's latest firmware reading (miner_detail.go).
	Hardware *MinerHardware `json:"hardware,omitempty"`
}

func (s *Server) handleWorker(w http.ResponseWriter, r *http.Request, _ identity) {
	key := r.PathValue("id")
	row, found := s.hub.view().findWorker(key)
	if !found {
		writeError(w, http.StatusNotFound, "no connected or offline worker "+strconv.Quote(key))
		return
	}
	d := workerDetail{Worker: row, Decisions: []DecisionView{}}
	if mr, ok := s.b.(MinerReader); ok && row.Worker != "" {
		if hw, ok := mr.MinerHardware(row.Worker); ok {
			d.Hardware = &hw
		}
	}
	minerID := d.Worker.Worker
	if snap, ok := s.b.Policy(); ok {
		for k := range snap.Miners {
			if m := &snap.Miners[k]; m.Worker == d.Worker.Worker {
				d.Policy, minerID = m, m.ID
				break
			}
		}
		for k := len(snap.Recent) - 1; k >= 0; k-- {
			if snap.Recent[k].MinerID == minerID {
				d.Decisions = append(d.Decisions, decisionView(&snap.Recent[k]))
			}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendWait)
	defer cancel()
	if ds, err := s.b.Decisions(ctx, store.DecisionQuery{MinerID: minerID, Page: store.Page{Limit: 50}}); err == nil {
		d.Decisions = d.Decisions[:0]
		for _, x := range ds {
			d.Decisions = append(d.Decisions, storeDecisionView(x))
		}
	}
	writeJSON(w, http.StatusOK, d)
}

func storeDecisionView(d store.Decision) DecisionView {
	return DecisionView{At: d.Time, Miner: d.MinerID, Action: d.Action, TargetKW: fin(d.TargetKW), Reason: d.ReasonCode, Why: d.Reason}
}

// handleStatus is GET /api/v1/status: the proxy-wide summary (miners, active pool, hashrate,
// shares by result, queue drops), read live from the proxy.
func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, s.b.Status())
}

func (s *Server) handlePools(w http.ResponseWriter, _ *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, s.hub.view().pools)
}

func (s *Server) handlePolicy(w http.ResponseWriter, _ *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, s.hub.view().policy)
}

func (s *Server) handleMeters(w http.ResponseWriter, _ *http.Request, _ identity) {
	writeJSON(w, http.StatusOK, s.hub.view().policy.Meters)
}

// page reads limit and before from the query.
func page(r *http.Request) (store.Page, error) {
	var p store.Page
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageLimit {
			return p, fmt.Errorf("limit must be 1..%d", store.MaxPageLimit)
		}
		p.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return p, errors.New("before must be a positive id")
		}
		p.Before = n
	}
	return p, nil
}

// decisionsResponse is GET /api/v1/decisions; source says whether the durable store
// answered or only the runner's recent memory did.
type decisionsResponse struct {
	Source    string         `json:"source"` // store | memory
	Decisions []DecisionView `json:"decisions"`
	Next      int64          `json:"next,omitempty"` // pass as before= for the next page
}

func (s *Server) handleDecisions(w http.ResponseWriter, r *http.Request, _ identity) {
	p, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendWait)
	defer cancel()
	miner := r.URL.Query().Get("miner")
	ds, err := s.b.Decisions(ctx, store.DecisionQuery{Page: p, MinerID: miner})
	switch {
	case err == nil:
		out := decisionsResponse{Source: "store", Decisions: make([]DecisionView, 0, len(ds))}
		for _, d := range ds {
			out.Decisions = append(out.Decisions, storeDecisionView(d))
		}
		if len(ds) > 0 && len(ds) == max(p.Limit, 1) {
			out.Next = ds[len(ds)-1].ID
		}
		writeJSON(w, http.StatusOK, out)
	case errors.Is(err, ErrUnavailable):
		out := decisionsResponse{Source: "memory", Decisions: []DecisionView{}}
		for _, d := range s.hub.view().policy.Recent {
			if miner == "" || d.Miner == miner {
				out.Decisions = append(out.Decisions, d)
			}
		}
		writeJSON(w, http.StatusOK, out)
	default:
		s.backendError(w, err)
	}
}

// eventsResponse is GET /api/v1/events.
type eventsResponse struct {
	Source string      `json:"source"` // store | memory
	Events []EventView `json:"events"` // newest first
	Next   int64       `json:"next,omitempty"`
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, _ identity) {
	p, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	ctx, cancel := context.WithTimeout(r.Context(), backendWait)
	defer cancel()
	es, err := s.b.Events(ctx, store.EventQuery{Page: p, Kind: q.Get("kind"), Subject: q.Get("subject"), Actor: q.Get("actor")})
	switch {
	case err == nil:
		out := eventsResponse{Source: "store", Events: make([]EventView, 0, len(es))}
		for _, e := range es {
			out.Events = append(out.Events, storeEventView(e))
		}
		if len(es) > 0 && len(es) == max(p.Limit, 1) {
			out.Next = es[len(es)-1].ID
		}
		writeJSON(w, http.StatusOK, out)
	case errors.Is(err, ErrUnavailable):
		limit := cmpInt(p.Limit, store.DefaultPageLimit)
		evs := s.hub.events.since(0, eventRingLen)
		out := eventsResponse{Source: "memory", Events: make([]EventView, 0, min(limit, len(evs)))}
		for i := len(evs) - 1; i >= 0 && len(out.Events) < limit; i-- {
			e := evs[i]
			if (p.Before == 0 || int64(e.Seq) < p.Before) && (q.Get("kind") == "" || e.Kind == q.Get("kind")) &&
				(q.Get("subject") == "" || e.Subject == q.Get("subject")) && (q.Get("actor") == "" || e.Actor == q.Get("actor")) {
				out.Events = append(out.Events, e)
			}
		}
		writeJSON(w, http.StatusOK, out)
	default:
		s.backendError(w, err)
	}
}

func cmpInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// capRequest is PUT /api/v1/policy/cap: either minutes from now or an absolute until.
type capRequest struct {
	KW      float64    `json:"kw"`
	Minutes float64    `json:"minutes,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
}

func (s *Server) handleSetCap(w http.ResponseWriter, r *http.Request, id identity) {
	var req capRequest
	if !readJSON(w, r, &req) {
		return
	}
	now := s.clk.Now()
	var until time.Time
	switch {
	case req.Until != nil && req.Minutes == 0:
		until = *req.Until
	case req.Until == nil && req.Minutes > 0 && !math.IsInf(req.Minutes, 0):
		until = now.Add(time.Duration(req.Minutes * float64(time.Minute)))
	default:
		writeError(w, http.StatusBadRequest, "give either minutes > 0 or until")
		return
	}
	if math.IsNaN(req.KW) || math.IsInf(req.KW, 0) || req.KW < 0 {
		writeError(w, http.StatusBadRequest, "kw must be >= 0")
		return
	}
	if !until.After(now) || until.Sub(now) > maxCapFor {
		writeError(w, http.StatusBadRequest, "the cap must end in the future, within 7 days")
		return
	}
	s.act(w, r, id, "set_cap", "", map[string]any{"kw": req.KW, "until": until}, func(ctx context.Context) error {
		return s.b.SetCap(ctx, id.actor(), req.KW, until)
	})
}

func (s *Server) handleClearCap(w http.ResponseWriter, r *http.Request, id identity) {
	s.act(w, r, id, "clear_cap", "", nil, func(ctx context.Context) error { return s.b.ClearCap(ctx, id.actor()) })
}

func (s *Server) handleGroup(pause bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, id identity) {
		name := r.PathValue("name")
		if !slices.ContainsFunc(s.b.Fleet(), func(g policy.FleetGroup) bool { return g.Name == name }) {
			writeError(w, http.StatusNotFound, "no fleet group named "+strconv.Quote(name))
			return
		}
		if pause {
			s.act(w, r, id, "pause_group", name, nil, func(ctx context.Context) error { return s.b.PauseGroup(ctx, id.actor(), name) })
		} else {
			s.act(w, r, id, "resume_group", name, nil, func(ctx context.Context) error { return s.b.ResumeGroup(ctx, id.actor(), name) })
		}
	}
}

func (s *Server) handleWorkerGate(pause bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, id identity) {
		name := r.PathValue("name")
		if pause {
			s.act(w, r, id, "pause_worker", name, nil, func(ctx context.Context) error { return s.b.PauseWorker(ctx, id.actor(), name) })
		} else {
			s.act(w, r, id, "resume_worker", name, nil, func(ctx context.Context) error { return s.b.ResumeWorker(ctx, id.actor(), name) })
		}
	}
}

// drRequest is POST /api/v1/dr.
type drRequest struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	TargetKW float64   `json:"target_kw"`
}

func (s *Server) handleScheduleDR(w http.ResponseWriter, r *http.Request, id identity) {
	var req drRequest
	if !readJSON(w, r, &req) {
		return
	}
	now := s.clk.Now()
	switch {
	case len(req.ID) > 64:
		writeError(w, http.StatusBadRequest, "id is at most 64 characters")
		return
	case req.Start.IsZero() || req.End.IsZero() || !req.End.After(req.Start):
		writeError(w, http.StatusBadRequest, "start and end are required, end after start")
		return
	case !req.End.After(now):
		writeError(w, http.StatusBadRequest, "the event has already ended")
		return
	case req.End.Sub(req.Start) > maxDRDuration:
		writeError(w, http.StatusBadRequest, "an event lasts at most 7 days")
		return
	case math.IsNaN(req.TargetKW) || math.IsInf(req.TargetKW, 0) || req.TargetKW < 0:
		writeError(w, http.StatusBadRequest, "target_kw must be >= 0")
		return
	}
	if req.ID == "" {
		req.ID = "dr-" + req.Start.UTC().Format("20060102T1504")
	}
	ev := policy.DREvent{ID: req.ID, Start: req.Start, End: req.End, TargetKW: req.TargetKW}
	s.act(w, r, id, "schedule_dr", req.ID, ev, func(ctx context.Context) error { return s.b.ScheduleDR(ctx, id.actor(), ev) })
}

func (s *Server) handleCancelDR(w http.ResponseWriter, r *http.Request, id identity) {
	drID := r.PathValue("id")
	s.act(w, r, id, "cancel_dr", drID, nil, func(ctx context.Context) error { return s.b.CancelDR(ctx, id.actor(), drID) })
}

// actionResponse answers a control request.
type actionResponse struct {
	OK      bool   `json:"ok"`
	Action  string `json:"action"`
	Subject string `json:"subject,omitempty"`
	Actor   string `json:"actor"`
}

// act runs a control call, logs it and adds it to the live event log; the Backend records
// the durable audit entry.
func (s *Server) act(w http.ResponseWriter, r *http.Request, id identity, action, subject string, detail any, f func(context.Context) error) {
	if err := s.apply(r.Context(), id, action, subject, detail, f); err != nil {
		s.backendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, actionResponse{OK: true, Action: action, Subject: subject, Actor: id.actor()})
}

// apply runs one control call within backendWait, logs it and, done, adds it to the live
// event log.
func (s *Server) apply(ctx context.Context, id identity, action, subject string, detail any, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, backendWait)
	defer cancel()
	if err := f(ctx); err != nil {
		s.log.Info().Err(err).Str("action", action).Str("subject", subject).Str("actor", id.actor()).Msg("console control refused")
		return err
	}
	s.log.Info().Str("action", action).Str("subject", subject).Str("actor", id.actor()).Msg("console control")
	ev := EventView{At: s.clk.Now(), Kind: "control." + action, Level: levelInfo, Subject: subject, Actor: id.actor(),
		Text: id.actor() + " " + actionText(action, subject)}
	if detail != nil {
		if b, err := json.Marshal(detail); err == nil {
			ev.Detail = b
		}
	}
	s.hub.events.add(ev)
	return nil
}

func actionText(action, subject string) string {
	switch action {
	case "set_cap":
		return "set a mining power cap"
	case "clear_cap":
		return "cleared the mining power cap"
	case "pause_group":
		return "paused group " + subject
	case "resume_group":
		return "resumed group " + subject
	case "schedule_dr":
		return "scheduled demand-response event " + subject
	case "cancel_dr":
		return "cancelled demand-response event " + subject
	case "pause_worker":
		return "paused worker " + subject
	case "resume_worker":
		return "resumed worker " + subject
	case "site_pause":
		return "paused " + subject + " of the site on their instances"
	case "site_resume":
		return "resumed " + subject + " of the site on their instances"
	case "add_pool":
		return "added pool " + subject
	case "edit_pool":
		return "edited pool " + subject
	case "remove_pool":
		return "removed pool " + subject
	case "reorder_pools":
		return "reordered the pools"
	case "switch_pool":
		return "switched the miners to pool " + subject
	case "clear_pool_switch":
		return "let the miners follow pool priority again, leaving " + subject
	}
	return action + " " + subject
}

// handleMeterPush forwards to the meter's own handler, which checks its own push token.
func (s *Server) handleMeterPush(w http.ResponseWriter, r *http.Request) {
	h := s.b.MeterPush(r.PathValue("name"))
	if h == nil {
		writeError(w, http.StatusNotFound, "no push meter with that name")
		return
	}
	h.ServeHTTP(w, r)
}

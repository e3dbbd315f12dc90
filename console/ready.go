package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashgate/hashgate/policy"
)

// StoreChecker is implemented by a Backend with a store: StoreHealth reports whether the store
// takes a durable write now. Without it /readyz reports the store as not configured.
type StoreChecker interface {
	StoreHealth(ctx context.Context) error
}

const (
	// livenessWait is how long /healthz waits for the update loop to answer.
	livenessWait = 5 * time.Second
	// storeProbeEvery spaces the store's write probes: /readyz needs no authentication, and
	// each probe is an fsync that waits behind share writes.
	storeProbeEvery = 5 * time.Second
)

// readyCheck is one condition /readyz reports.
type readyCheck struct {
	Name   string `json:"name"` // pool, meter, store
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// readyResponse is the body of /readyz: 200 when every check passes, 503 otherwise.
type readyResponse struct {
	Status  string       `json:"status"`  // ready | not_ready
	Failing []string     `json:"failing"` // names of the checks that failed
	Checks  []readyCheck `json:"checks"`
}

// handleHealth is liveness: the process answers and its update loop, which reads the proxy
// and the power controller every interval, is not stuck.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	expired := make(chan struct{})
	t := s.clk.AfterFunc(livenessWait, func() { close(expired) })
	defer t.Stop()
	select {
	case s.hub.ping <- struct{}{}:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case <-s.hub.done:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "stopping"})
	case <-expired:
		s.log.Warn().Dur("waited", livenessWait).Msg("console update loop did not answer the liveness check")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "stuck",
			"detail": "the console update loop did not answer within " + livenessWait.String()})
	case <-r.Context().Done():
	}
}

// handleReady is readiness: a pool is up, the site meter (when there is one) is fresh and the
// store takes writes.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	checks := []readyCheck{s.poolCheck(), s.meterCheck(), s.storeCheck(r.Context())}
	res := readyResponse{Status: "ready", Failing: []string{}, Checks: checks}
	for _, c := range checks {
		if !c.OK {
			res.Failing = append(res.Failing, c.Name)
		}
	}
	code := http.StatusOK
	if len(res.Failing) > 0 {
		res.Status, code = "not_ready", http.StatusServiceUnavailable
	}
	if was := s.ready.Swap(code == http.StatusOK); was != (code == http.StatusOK) {
		ev := s.log.Info()
		if code != http.StatusOK {
			ev = s.log.Warn().Strs("failing", res.Failing)
		}
		ev.Str("status", res.Status).Msg("readiness changed")
	}
	writeJSON(w, code, res)
}

// poolCheck passes when at least one pool is up: miners then get work.
func (s *Server) poolCheck() readyCheck {
	c := readyCheck{Name: "pool"}
	var up, down []string
	for _, p := range s.b.Pools() {
		if p.State == "up" {
			up = append(up, p.Name)
			continue
		}
		why := p.State
		if p.Reason != "" {
			why = p.Reason
		}
		down = append(down, p.Name+" ("+why+")")
	}
	switch {
	case len(up) > 0:
		c.OK, c.Detail = true, "up: "+strings.Join(up, ", ")
	case len(down) == 0:
		c.Detail = "no pool is configured"
	default:
		c.Detail = "no pool is up: " + strings.Join(down, ", ")
	}
	return c
}

// meterCheck passes when every site meter has a fresh good reading, or when the site has no
// meter (a plain proxy). A stale site meter has already sent the fleet to its safe floor.
func (s *Server) meterCheck() readyCheck {
	c := readyCheck{Name: "meter"}
	var fresh, stale []string
	for _, m := range s.b.Meters() {
		if m.Role != policy.RoleSiteImport {
			continue
		}
		switch {
		case !m.Stale:
			fresh = append(fresh, m.Name)
		case m.At.IsZero():
			stale = append(stale, m.Name+" (no good reading yet)")
		default:
			stale = append(stale, m.Name+" (last good reading "+m.At.UTC().Format(time.RFC3339)+")")
		}
	}
	switch {
	case len(stale) > 0:
		c.Detail = "site meter stale: " + strings.Join(stale, ", ")
	case len(fresh) > 0:
		c.OK, c.Detail = true, "fresh: "+strings.Join(fresh, ", ")
	default:
		c.OK, c.Detail = true, "not configured"
	}
	return c
}

// storeCheck reports the store's write probe, run at most every storeProbeEvery; a request
// arriving while a probe runs gets the previous result rather than waiting.
func (s *Server) storeCheck(ctx context.Context) readyCheck {
	c := readyCheck{Name: "store"}
	sc, ok := s.b.(StoreChecker)
	if !ok {
		c.OK, c.Detail = true, "not configured"
		return c
	}
	err := s.probe.check(ctx, sc, s.clk.Now)
	if err != nil {
		c.Detail = "not writable: " + err.Error()
		return c
	}
	c.OK, c.Detail = true, "writable"
	return c
}

// errProbePending is the store check's answer while its first probe is still running.
var errProbePending = errors.New("first write probe still running")

// storeProbe holds the last write probe's result; one probe runs at a time.
type storeProbe struct {
	run sync.Mutex // held while a probe runs

	mu  sync.Mutex
	at  time.Time // when the last probe ended; zero before the first
	err error
}

func (p *storeProbe) check(ctx context.Context, sc StoreChecker, now func() time.Time) error {
	if err, ok := p.cached(now()); ok {
		return err
	}
	if !p.run.TryLock() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.at.IsZero() {
			return errProbePending
		}
		return p.err
	}
	defer p.run.Unlock()
	if err, ok := p.cached(now()); ok { // another request probed meanwhile
		return err
	}
	// Not the request's context: a client hanging up must not become the cached result.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backendWait)
	defer cancel()
	err := sc.StoreHealth(pctx)
	p.mu.Lock()
	p.at, p.err = now(), err
	p.mu.Unlock()
	return err
}

func (p *storeProbe) cached(now time.Time) (error, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at.IsZero() || now.Sub(p.at) >= storeProbeEvery {
		return nil, false
	}
	return p.err, true
}

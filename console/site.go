package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashgate/hashgate/cluster"
)

// SiteReader is implemented by a Backend whose instance shares a site with others: the
// console then shows the whole site (GET /api/v1/site, GET /api/v1/site/workers) and carries
// pause and resume to the instance owning each worker (POST /api/v1/site/workers/bulk).
type SiteReader interface {
	// Site is every instance of the site as this one hears it; ok is false alone.
	Site() (s cluster.Site, ok bool)
	// SiteMiners are the miners of every instance's inventory.
	SiteMiners() []cluster.SiteMiner
	// SiteOperate applies a pause or resume on the owning instances, audited there with actor.
	SiteOperate(ctx context.Context, actor string, action cluster.OpAction, workers []string) ([]cluster.OpResult, error)
}

// siteRoutes mounts the site console when the Backend is part of a site.
func (s *Server) siteRoutes(mux *http.ServeMux) {
	sr, ok := s.b.(SiteReader)
	if !ok {
		return
	}
	if _, on := sr.Site(); !on {
		return
	}
	mux.Handle("GET /api/v1/site", s.read(func(w http.ResponseWriter, _ *http.Request, _ identity) {
		st, _ := sr.Site()
		writeJSON(w, http.StatusOK, st)
	}))
	mux.Handle("GET /api/v1/site/workers", s.read(func(w http.ResponseWriter, r *http.Request, _ identity) {
		q, err := parseSiteQuery(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, q.page(sr.SiteMiners()))
	}))
	mux.Handle("POST /api/v1/site/workers/bulk", s.control(func(w http.ResponseWriter, r *http.Request, id identity) {
		s.handleSiteBulk(w, r, id, sr)
	}))
}

// siteQuery is one page of the site's miners: offset and limit as /api/v1/workers, an
// instance to show alone and a substring of the worker name or miner id.
type siteQuery struct {
	Offset   int    `json:"offset"`
	Limit    int    `json:"limit"`
	Instance string `json:"instance,omitempty"`
	Q        string `json:"q,omitempty"`
}

// sitePage answers GET /api/v1/site/workers; Total counts the rows matching the filters.
type sitePage struct {
	Query siteQuery           `json:"query"`
	Total int                 `json:"total"`
	Rows  []cluster.SiteMiner `json:"rows"`
}

func parseSiteQuery(r *http.Request) (siteQuery, error) {
	q := siteQuery{Limit: defaultPageLimit}
	v := r.URL.Query()
	for key := range v {
		switch key {
		case "offset", "limit", "instance", "q":
		default:
			return q, errors.New("unknown parameter " + strconv.Quote(key) + " (offset, limit, instance, q)")
		}
	}
	for _, f := range []struct {
		key string
		dst *int
		max int
	}{{"offset", &q.Offset, maxPageOffset}, {"limit", &q.Limit, maxPageLimit}} {
		s := v.Get(f.key)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > f.max || (f.key == "limit" && n == 0) {
			lo := 0
			if f.key == "limit" {
				lo = 1
			}
			return q, errors.New(f.key + " must be " + strconv.Itoa(lo) + ".." + strconv.Itoa(f.max))
		}
		*f.dst = n
	}
	q.Instance, q.Q = v.Get("instance"), v.Get("q")
	if len(q.Instance) > 64 || len(q.Q) > maxWorkerName {
		return q, errors.New("instance is at most 64 bytes and q at most " + strconv.Itoa(maxWorkerName))
	}
	return q, nil
}

func (q siteQuery) page(all []cluster.SiteMiner) sitePage {
	rows := all[:0:0]
	for _, m := range all {
		if q.Instance != "" && m.Instance != q.Instance {
			continue
		}
		if q.Q != "" && !strings.Contains(m.Worker, q.Q) && !strings.Contains(m.ID, q.Q) {
			continue
		}
		rows = append(rows, m)
	}
	p := sitePage{Query: q, Total: len(rows), Rows: []cluster.SiteMiner{}}
	if q.Offset < len(rows) {
		p.Rows = rows[q.Offset:min(len(rows), q.Offset+q.Limit)]
	}
	return p
}

// siteBulkResponse answers a valid site bulk request: each worker's outcome and owner.
type siteBulkResponse struct {
	Action  string             `json:"action"`
	Actor   string             `json:"actor"`
	Done    int                `json:"done"`
	Failed  int                `json:"failed"`
	Results []cluster.OpResult `json:"results"`
}

// handleSiteBulk carries pause or resume to each worker's owner. The owner records the audit
// entry with the actor and this instance's name; this console logs and shows the request.
func (s *Server) handleSiteBulk(w http.ResponseWriter, r *http.Request, id identity, sr SiteReader) {
	var req bulkRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Action != "pause" && req.Action != "resume" {
		writeError(w, http.StatusBadRequest, "action must be pause or resume for the site's workers")
		return
	}
	st, _ := sr.Site()
	actor := id.actor() + "@" + st.Instance
	var res []cluster.OpResult
	err := s.apply(r.Context(), id, "site_"+req.Action, strconv.Itoa(len(req.Workers))+" workers", map[string]any{"workers": req.Workers},
		func(ctx context.Context) error {
			var err error
			res, err = sr.SiteOperate(ctx, actor, cluster.OpAction(req.Action), req.Workers)
			return err
		})
	if err != nil {
		s.backendError(w, err)
		return
	}
	out := siteBulkResponse{Action: req.Action, Actor: actor, Results: res}
	for _, x := range res {
		if x.OK {
			out.Done++
		} else {
			out.Failed++
		}
	}
	writeJSON(w, http.StatusOK, out)
}

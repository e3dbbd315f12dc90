package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Limits of a worker page query. A console tab shows one page; the table of 10,000 miners is
// never sent whole, so its cost per client is bounded by maxPageLimit rows.
const (
	defaultPageLimit = 100
	maxPageLimit     = 500
	maxPageOffset    = 10_000_000
	maxQueryText     = 128 // q and group
)

// workerSortKeys are the columns a page may be sorted by, named as in WorkerRow's JSON.
var workerSortKeys = map[string]func(a, b *WorkerRow) int{
	"id":           func(a, b *WorkerRow) int { return compareU64(a.ID, b.ID) },
	"worker":       func(a, b *WorkerRow) int { return strings.Compare(a.Worker, b.Worker) },
	"state":        func(a, b *WorkerRow) int { return strings.Compare(a.State, b.State) },
	"group":        func(a, b *WorkerRow) int { return strings.Compare(a.Group, b.Group) },
	"pool":         func(a, b *WorkerRow) int { return strings.Compare(a.Pool, b.Pool) },
	"firmware":     func(a, b *WorkerRow) int { return strings.Compare(a.Firmware, b.Firmware) },
	"remote":       func(a, b *WorkerRow) int { return strings.Compare(a.Remote, b.Remote) },
	"hashrate_hs":  func(a, b *WorkerRow) int { return compareF64(a.Hashrate, b.Hashrate) },
	"difficulty":   func(a, b *WorkerRow) int { return compareF64(a.Difficulty, b.Difficulty) },
	"accepted":     func(a, b *WorkerRow) int { return compareU64(a.Accepted, b.Accepted) },
	"rejected":     func(a, b *WorkerRow) int { return compareU64(a.Rejected, b.Rejected) },
	"power_kw":     func(a, b *WorkerRow) int { return compareF64(a.PowerKW, b.PowerKW) },
	"last_seen_ms": func(a, b *WorkerRow) int { return compareI64(a.LastSeen, b.LastSeen) },
	"connected_ms": func(a, b *WorkerRow) int { return compareI64(a.Connected, b.Connected) },
}

// workerStates are the states a page may be filtered by.
var workerStates = []string{"running", "paused", "throttled", "connecting", stateOffline}

// ErrBadQuery is wrapped by every worker page query error.
var ErrBadQuery = errors.New("bad worker query")

// workerQuery is one page of the miners table: the REST query string and the websocket
// subscription carry the same fields. It is comparable: the hub computes each distinct query
// once per round however many clients follow it.
type workerQuery struct {
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	Sort   string `json:"sort"`
	Order  string `json:"order"` // asc | desc
	Q      string `json:"q"`     // substring of the worker name (any case) or the address
	State  string `json:"state"`
	Group  string `json:"group"`
	bad    string // why a websocket query did not decode; reported by normalize
}

// UnmarshalJSON never fails: a query that does not decode (a number as a string) is kept
// with the reason, so the hub answers the client with it instead of the read loop dropping
// the message unanswered.
func (q *workerQuery) UnmarshalJSON(b []byte) error {
	type plain workerQuery
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		*q = workerQuery{bad: err.Error()}
		return nil
	}
	*q = workerQuery(p)
	return nil
}

// normalize fills defaults and checks every field, naming the wrong one.
func (q workerQuery) normalize() (workerQuery, error) {
	if q.bad != "" {
		return q, fmt.Errorf("%w: page: %s", ErrBadQuery, q.bad)
	}
	if q.Limit == 0 {
		q.Limit = defaultPageLimit
	}
	if q.Sort == "" {
		q.Sort = "worker"
	}
	if q.Order == "" {
		q.Order = "asc"
	}
	switch {
	case q.Offset < 0 || q.Offset > maxPageOffset:
		return q, fmt.Errorf("%w: offset must be 0..%d", ErrBadQuery, maxPageOffset)
	case q.Limit < 1 || q.Limit > maxPageLimit:
		return q, fmt.Errorf("%w: limit must be 1..%d", ErrBadQuery, maxPageLimit)
	case workerSortKeys[q.Sort] == nil:
		return q, fmt.Errorf("%w: sort must be one of %s", ErrBadQuery, strings.Join(sortKeyNames(), ", "))
	case q.Order != "asc" && q.Order != "desc":
		return q, fmt.Errorf("%w: order must be asc or desc", ErrBadQuery)
	case q.State != "" && !slices.Contains(workerStates, q.State):
		return q, fmt.Errorf("%w: state must be one of %s", ErrBadQuery, strings.Join(workerStates, ", "))
	case len(q.Q) > maxQueryText:
		return q, fmt.Errorf("%w: q is at most %d bytes", ErrBadQuery, maxQueryText)
	case len(q.Group) > maxQueryText:
		return q, fmt.Errorf("%w: group is at most %d bytes", ErrBadQuery, maxQueryText)
	}
	return q, nil
}

// parseWorkerQuery reads a query from GET /api/v1/workers parameters.
func parseWorkerQuery(v url.Values) (workerQuery, error) {
	q := workerQuery{Sort: v.Get("sort"), Order: v.Get("order"), Q: v.Get("q"), State: v.Get("state"), Group: v.Get("group")}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"offset", &q.Offset}, {"limit", &q.Limit}} {
		s := v.Get(f.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return q, fmt.Errorf("%w: %s must be a number", ErrBadQuery, f.name)
		}
		*f.dst = n
		if f.name == "limit" && n == 0 {
			return q, fmt.Errorf("%w: limit must be 1..%d", ErrBadQuery, maxPageLimit)
		}
	}
	return q.normalize()
}

func sortKeyNames() []string {
	names := make([]string, 0, len(workerSortKeys))
	for k := range workerSortKeys {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// workerPage is one page as clients get it; Query echoes what it answers, so a client that
// changed its page meanwhile can tell a late page from the one it asked for.
type workerPage struct {
	Query   workerQuery `json:"query"`
	Total   int         `json:"total"`   // every worker, connected or offline
	Matched int         `json:"matched"` // workers that pass the filter
	Workers []WorkerRow `json:"workers"`
}

// page filters and sorts the connected rows and the offline ones and returns the requested
// slice of them, ties broken by ID, then name, so that a page is stable while nothing changes.
func (q workerQuery) page(connected, offline []WorkerRow) workerPage {
	at := func(i int32) *WorkerRow {
		if int(i) < len(connected) {
			return &connected[i]
		}
		return &offline[int(i)-len(connected)]
	}
	n := len(connected) + len(offline)
	p := workerPage{Query: q, Total: n}
	idx := make([]int32, 0, n)
	needle := strings.ToLower(q.Q)
	for i := range int32(n) {
		r := at(i)
		if (q.State == "" || r.State == q.State) && (q.Group == "" || r.Group == q.Group) &&
			(needle == "" || containsFold(r.Worker, needle) || strings.Contains(r.Remote, q.Q)) {
			idx = append(idx, i)
		}
	}
	p.Matched = len(idx)
	by, desc := workerSortKeys[q.Sort], q.Order == "desc"
	slices.SortFunc(idx, func(a, b int32) int {
		x, y := at(a), at(b)
		c := by(x, y)
		if desc {
			c = -c
		}
		if c == 0 {
			c = compareU64(x.ID, y.ID)
		}
		if c == 0 {
			c = strings.Compare(x.Worker, y.Worker)
		}
		return c
	})
	lo := min(q.Offset, len(idx))
	hi := min(lo+q.Limit, len(idx))
	p.Workers = make([]WorkerRow, 0, hi-lo)
	for _, i := range idx[lo:hi] {
		p.Workers = append(p.Workers, *at(i))
	}
	return p
}

// pageChanged says whether followers of a page must get it again: its total or its rows'
// order changed, or a row's state, holds or proof did; other changes (counters, rates) only
// when full.
func pageChanged(prev, next *workerPage, full bool) bool {
	if prev.Total != next.Total || prev.Matched != next.Matched || len(prev.Workers) != len(next.Workers) {
		return true
	}
	for i := range next.Workers {
		a, b := &prev.Workers[i], &next.Workers[i]
		if a.ID != b.ID || controlChanged(a, b) || (full && *a != *b) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains lower (already lower case) in any ASCII case,
// without allocating: it runs over every row each round.
func containsFold(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], lower) {
			return true
		}
	}
	return false
}

func compareF64(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareI64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

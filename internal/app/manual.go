package app

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/hashgate/hashgate/policy"
	"github.com/hashgate/hashgate/store"
)

// manualKinds are the audited operator controls, replayed at start so a cap, a paused group
// or a scheduled demand-response event survives a restart.
var manualKinds = []string{"manual.cap", "manual.cap_cleared", "manual.pause_group", "manual.resume_group", "manual.dr_scheduled", "manual.dr_cancelled"}

// restoreManual replays the audit trail's operator controls into the runner, oldest first.
func restoreManual(ctx context.Context, st *store.Store, r *policy.Runner, now time.Time) (int, error) {
	var all []store.Event
	for _, k := range manualKinds {
		var before int64
		for {
			page, err := st.Events(ctx, store.EventQuery{Kind: k, Page: store.Page{Before: before, Limit: store.MaxPageLimit}})
			if err != nil {
				return 0, err
			}
			all = append(all, page...)
			if len(page) < store.MaxPageLimit {
				break
			}
			before = page[len(page)-1].ID
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	for _, e := range all {
		switch e.Kind {
		case "manual.cap":
			var c struct {
				KW    float64   `json:"kw"`
				Until time.Time `json:"until"`
			}
			if json.Unmarshal(e.Detail, &c) == nil && c.Until.After(now) {
				r.SetCap(c.KW, c.Until)
			}
		case "manual.cap_cleared":
			r.ClearCap()
		case "manual.pause_group":
			r.PauseGroup(e.Subject)
		case "manual.resume_group":
			r.ResumeGroup(e.Subject)
		case "manual.dr_scheduled":
			var ev policy.DREvent
			if json.Unmarshal(e.Detail, &ev) == nil && ev.End.After(now) {
				r.AddDREvent(ev)
			}
		case "manual.dr_cancelled":
			r.RemoveDREvent(e.Subject)
		}
	}
	return len(all), nil
}

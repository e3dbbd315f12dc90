package console

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashgate/hashgate/store"
)

// exportMaxRows caps one CSV export. Past it the file ends with a truncation row (see
// exportWriter.truncated), because the 200 status is already on the wire.
const exportMaxRows = 200_000

// exportPage is how many records one store read returns; the page is written and flushed
// before the next read, so a slow client holds no database connection.
const exportPage = 500

// exportWriteWait is how long a client may take to accept one page; one that stops reading
// is cut off rather than holding its handler for good.
const exportWriteWait = 30 * time.Second

// exportWriter writes CSV rows, neutralising spreadsheet formulas in text cells and counting
// rows against a cap.
type exportWriter struct {
	csv   *csv.Writer
	flush func() error // sends what is buffered, within the page's write deadline
	rows  int
	max   int
}

// formulaStart are the first characters that make a spreadsheet read a cell as a formula (or
// a control character it treats so).
const formulaStart = "=+-@\t\r"

// text returns a text cell safe to open in a spreadsheet: one that starts like a formula gets
// a leading apostrophe. Worker names, reasons and details come from miners and operators.
func text(s string) string {
	if s != "" && strings.ContainsRune(formulaStart, rune(s[0])) {
		return "'" + s
	}
	return s
}

func num(v float64) string     { return strconv.FormatFloat(v, 'f', -1, 64) }
func integer(v int64) string   { return strconv.FormatInt(v, 10) }
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// row writes one record; false once the cap is reached (the caller stops reading).
func (e *exportWriter) row(cells ...string) bool {
	if e.rows >= e.max {
		return false
	}
	e.rows++
	return e.csv.Write(cells) == nil
}

// page ends a page: what is buffered goes to the client.
func (e *exportWriter) page() error {
	e.csv.Flush()
	if err := e.csv.Error(); err != nil {
		return err
	}
	return e.flush()
}

// truncatedRow is the last row of an export cut at the cap.
func truncatedRow(max int) []string {
	return []string{fmt.Sprintf("# truncated: more than %d rows; export a shorter range", max)}
}

// exportKinds are the CSV files, their header and how to write a range of them.
var exportKinds = map[string]struct {
	header []string
	write  func(ctx context.Context, st *store.Store, e *exportWriter, from, end time.Time, worker string) (more bool, err error)
}{
	"decisions.csv": {
		header: []string{"id", "time", "miner", "action", "target_kw", "reason_code", "reason"},
		write: func(ctx context.Context, st *store.Store, e *exportWriter, from, end time.Time, worker string) (bool, error) {
			for after := int64(0); ; {
				ds, err := st.DecisionsAfter(ctx, from, end, worker, after, exportPage)
				if err != nil {
					return false, err
				}
				for _, d := range ds {
					if !e.row(integer(d.ID), stamp(d.Time), text(d.MinerID), text(d.Action), num(d.TargetKW), text(d.ReasonCode), text(d.Reason)) {
						return true, nil
					}
				}
				if err := e.page(); err != nil || len(ds) < exportPage {
					return false, err
				}
				after = ds[len(ds)-1].ID
			}
		},
	},
	"events.csv": {
		header: []string{"id", "time", "kind", "subject", "actor", "detail"},
		write: func(ctx context.Context, st *store.Store, e *exportWriter, from, end time.Time, worker string) (bool, error) {
			for after := int64(0); ; {
				es, err := st.EventsAfter(ctx, from, end, worker, after, exportPage)
				if err != nil {
					return false, err
				}
				for _, ev := range es {
					if !e.row(integer(ev.ID), stamp(ev.Time), text(ev.Kind), text(ev.Subject), text(ev.Actor), text(string(ev.Detail))) {
						return true, nil
					}
				}
				if err := e.page(); err != nil || len(es) < exportPage {
					return false, err
				}
				after = es[len(es)-1].ID
			}
		},
	},
	"energy.csv": {
		header: []string{"start", "length_s", "group", "import_kwh", "mining_kwh", "ai_kwh", "budget_kwh",
			"measured_kwh", "estimated_kwh", "shed_kwh", "curtailed_s", "curtail_events", "priced_kwh", "cost"},
		write: func(ctx context.Context, st *store.Store, e *exportWriter, from, end time.Time, _ string) (bool, error) {
			var after time.Time
			for {
				p, err := st.EnergyAfter(ctx, from, end, after, exportPage)
				if err != nil || p.Next.IsZero() {
					return false, err
				}
				// Site and group rows merged by start, the site row first.
				for si, gi := 0, 0; si < len(p.Site) || gi < len(p.Groups); {
					var ok bool
					if si < len(p.Site) && (gi == len(p.Groups) || !p.Site[si].Start.After(p.Groups[gi].Start)) {
						ok = siteRow(e, p.Site[si])
						si++
					} else {
						ok = groupRow(e, p.Groups[gi])
						gi++
					}
					if !ok {
						return true, nil
					}
				}
				if err := e.page(); err != nil {
					return false, err
				}
				after = p.Next
			}
		},
	},
	"shares.csv": {
		header: []string{"period_start", "period", "worker", "pool", "result", "reason", "count", "difficulty_sum"},
		write: func(ctx context.Context, st *store.Store, e *exportWriter, from, end time.Time, worker string) (bool, error) {
			var c store.RollupCursor
			for {
				rows, next, err := st.RollupAfter(ctx, from, end, worker, c, exportPage)
				if err != nil {
					return false, err
				}
				for _, r := range rows {
					period := "minute"
					if r.Period == time.Hour {
						period = "hour"
					}
					if !e.row(stamp(r.Start), period, text(r.Worker), text(r.Pool), r.Result.String(), text(r.Reason), integer(r.Count), num(r.DiffSum)) {
						return true, nil
					}
				}
				if err := e.page(); err != nil || len(rows) < exportPage {
					return false, err
				}
				c = next
			}
		},
	},
}

// siteRow writes one site interval of energy.csv (the group columns left empty).
func siteRow(e *exportWriter, s store.EnergyInterval) bool {
	return e.row(stamp(s.Start), num(s.Length.Seconds()), "", num(s.ImportKWh), num(s.MiningKWh), num(s.AIKWh), num(s.BudgetKWh),
		"", "", "", "", "", "", "")
}

// groupRow writes one group interval of energy.csv (the site columns left empty).
func groupRow(e *exportWriter, g store.GroupEnergy) bool {
	return e.row(stamp(g.Start), num(g.Length.Seconds()), text(g.Group), "", num(g.MiningKWh()), "", "",
		num(g.MeasuredKWh), num(g.EstimatedKWh), num(g.ShedKWh), num(g.CurtailedSeconds), integer(g.CurtailEvents),
		num(g.PricedKWh), num(g.Cost))
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, _ identity) {
	s.export(w, r, exportMaxRows, exportWriteWait)
}

// export streams one CSV file of the range from= to= (UTC days, at most maxExportDays) with at
// most maxRows records, page by page, each page written within wait.
func (s *Server) export(w http.ResponseWriter, r *http.Request, maxRows int, wait time.Duration) {
	file := r.PathValue("file")
	kind, ok := exportKinds[file]
	if !ok {
		writeError(w, http.StatusNotFound, "no such export: decisions.csv, events.csv, energy.csv or shares.csv")
		return
	}
	from, end, err := dayRange(r, maxExportDays)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	worker := r.URL.Query().Get("worker")
	if len(worker) > 256 {
		writeError(w, http.StatusBadRequest, "worker= is longer than 256 bytes")
		return
	}
	st, _, ok := s.energyStore(w)
	if !ok {
		return
	}
	name := fmt.Sprintf("hashgate-%s-%s-%s.csv", strings.TrimSuffix(file, ".csv"), from.Format(time.DateOnly),
		end.AddDate(0, 0, -1).Format(time.DateOnly))
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(wait)) } // unsupported by a recorder: no deadline
	deadline()
	defer rc.SetWriteDeadline(time.Time{}) // the connection may serve the next request
	e := &exportWriter{csv: csv.NewWriter(w), max: maxRows, flush: func() error {
		err := rc.Flush()
		if errors.Is(err, http.ErrNotSupported) {
			err = nil
		}
		deadline()
		return err
	}}
	_ = e.csv.Write(kind.header)
	more, err := kind.write(r.Context(), st, e, from, end, worker)
	switch {
	case err != nil:
		// The status is sent: the file ends with a row that says it is incomplete (a client
		// that stopped reading gets nothing more).
		s.log.Warn().Err(err).Str("export", file).Int("rows", e.rows).Msg("CSV export stopped part-way")
		_ = e.csv.Write([]string{"# error: the export stopped early; retry"})
	case more && e.csv.Error() == nil:
		_ = e.csv.Write(truncatedRow(maxRows))
	}
	_ = e.page()
}

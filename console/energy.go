package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashgate/hashgate/store"
)

// EnergyReader is the optional part of a Backend that serves the energy pages and the CSV
// exports. A Backend without it, or whose EnergyStore returns ErrUnavailable (no store),
// answers those endpoints with 409, as other store-backed reads do.
type EnergyReader interface {
	// EnergyStore is the store the reports and exports read.
	EnergyStore() (*store.Store, error)
	// PriceUnit is the configured price meter's unit (say "EUR/MWh"), "" without one: costs
	// are in that currency.
	PriceUnit() string
}

// Range limits of the energy endpoints, in UTC days, and the years a date may name.
const (
	maxSeriesDays = 7
	maxExportDays = 31
	minYear       = 2000
	maxYear       = 2200
)

// energyRoutes mounts the energy report, the raw series and the CSV exports.
func (s *Server) energyRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/energy", s.read(s.handleEnergySeries))
	mux.Handle("GET /api/v1/energy/report", s.read(s.handleEnergyReport))
	mux.Handle("GET /api/v1/export/{file}", s.read(s.handleExport))
}

// energyStore returns the store behind the energy endpoints, or writes why there is none.
func (s *Server) energyStore(w http.ResponseWriter) (*store.Store, EnergyReader, bool) {
	er, ok := s.b.(EnergyReader)
	if !ok {
		s.backendError(w, fmt.Errorf("%w: energy reports need the store", ErrUnavailable))
		return nil, nil, false
	}
	st, err := er.EnergyStore()
	if err != nil {
		s.backendError(w, err)
		return nil, nil, false
	}
	return st, er, true
}

// dayRange parses from= and to= (YYYY-MM-DD, UTC; to inclusive) into [from, end) and checks
// that the range is at most maxDays long.
func dayRange(r *http.Request, maxDays int) (from, end time.Time, err error) {
	q := r.URL.Query()
	parse := func(key string) (time.Time, error) {
		v := q.Get(key)
		if v == "" {
			return time.Time{}, fmt.Errorf("%s= is required (YYYY-MM-DD, UTC)", key)
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s=%q is not a date (YYYY-MM-DD)", key, v)
		}
		// The store keeps times as Unix nanoseconds, which end in 2262.
		if y := d.Year(); y < minYear || y > maxYear {
			return time.Time{}, fmt.Errorf("%s=%q is outside %d to %d", key, v, minYear, maxYear)
		}
		return d, nil
	}
	if from, err = parse("from"); err != nil {
		return
	}
	var to time.Time
	if to, err = parse("to"); err != nil {
		return
	}
	if to.Before(from) {
		return from, end, errors.New("to= is before from=")
	}
	end = to.AddDate(0, 0, 1)
	if days := int(end.Sub(from).Hours() / 24); days > maxDays {
		return from, end, fmt.Errorf("range of %d days is longer than the %d this endpoint serves", days, maxDays)
	}
	return from, end, nil
}

// energySeriesResponse is GET /api/v1/energy.
type energySeriesResponse struct {
	From   string              `json:"from"`
	To     string              `json:"to"`
	Site   []siteIntervalView  `json:"site"`
	Groups []groupIntervalView `json:"groups"`
}

type siteIntervalView struct {
	Start     time.Time `json:"start"`
	LengthS   float64   `json:"length_s"`
	ImportKWh float64   `json:"import_kwh"`
	MiningKWh float64   `json:"mining_kwh"`
	AIKWh     float64   `json:"ai_kwh"`
	BudgetKWh float64   `json:"budget_kwh"`
}

type groupIntervalView struct {
	Start            time.Time `json:"start"`
	LengthS          float64   `json:"length_s"`
	Group            string    `json:"group"`
	MiningKWh        float64   `json:"mining_kwh"`
	MeasuredKWh      float64   `json:"measured_kwh"`
	EstimatedKWh     float64   `json:"estimated_kwh"`
	MeasuredSamples  int64     `json:"measured_samples"`
	EstimatedSamples int64     `json:"estimated_samples"`
	ShedKWh          float64   `json:"shed_kwh"`
	CurtailedS       float64   `json:"curtailed_s"`
	CurtailEvents    int64     `json:"curtail_events"`
	PricedKWh        float64   `json:"priced_kwh"`
	Cost             float64   `json:"cost"`
	Miners           int       `json:"miners"`
}

func groupIntervalOf(g store.GroupEnergy) groupIntervalView {
	return groupIntervalView{Start: g.Start, LengthS: g.Length.Seconds(), Group: g.Group, MiningKWh: g.MiningKWh(),
		MeasuredKWh: g.MeasuredKWh, EstimatedKWh: g.EstimatedKWh, MeasuredSamples: g.MeasuredSamples,
		EstimatedSamples: g.EstimatedSamples, ShedKWh: g.ShedKWh, CurtailedS: g.CurtailedSeconds,
		CurtailEvents: g.CurtailEvents, PricedKWh: g.PricedKWh, Cost: g.Cost, Miners: g.Miners}
}

func (s *Server) handleEnergySeries(w http.ResponseWriter, r *http.Request, _ identity) {
	from, end, err := dayRange(r, maxSeriesDays)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st, _, ok := s.energyStore(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendWait)
	defer cancel()
	site, err := st.EnergySeries(ctx, from, end)
	if err != nil {
		s.backendError(w, err)
		return
	}
	groups, err := st.GroupEnergySeries(ctx, from, end, r.URL.Query().Get("group"))
	if err != nil {
		s.backendError(w, err)
		return
	}
	out := energySeriesResponse{From: from.Format(time.DateOnly), To: end.AddDate(0, 0, -1).Format(time.DateOnly),
		Site: make([]siteIntervalView, 0, len(site)), Groups: make([]groupIntervalView, 0, len(groups))}
	for _, e := range site {
		out.Site = append(out.Site, siteIntervalView{Start: e.Start, LengthS: e.Length.Seconds(), ImportKWh: e.ImportKWh,
			MiningKWh: e.MiningKWh, AIKWh: e.AIKWh, BudgetKWh: e.BudgetKWh})
	}
	for _, g := range groups {
		out.Groups = append(out.Groups, groupIntervalOf(g))
	}
	writeJSON(w, http.StatusOK, out)
}

// energyReportResponse is GET /api/v1/energy/report.
type energyReportResponse struct {
	From string `json:"from"`
	To   string `json:"to"`
	// PriceUnit is the price meter's unit; costs are in its currency. "" without a price
	// meter (costs are then zero and priced_kwh says no energy was priced).
	PriceUnit string `json:"price_unit"`
	// Revenue says how revenue is reported: expected BTC from the accepted shares per day;
	// no currency figure, for want of a BTC price input.
	Revenue string          `json:"revenue"`
	Days    []reportDayView `json:"days"`
}

type reportDayView struct {
	Day                string      `json:"day"`
	Site               siteDayView `json:"site"`
	AcceptedDifficulty float64     `json:"accepted_difficulty"`
	// RevenueBTC is the expected value of the accepted shares (store.ReportDay.ExpectedSats),
	// not what a pool paid.
	RevenueBTC float64        `json:"revenue_btc"`
	Groups     []groupDayView `json:"groups"`
}

type siteDayView struct {
	ImportKWh float64 `json:"import_kwh"`
	MiningKWh float64 `json:"mining_kwh"`
	AIKWh     float64 `json:"ai_kwh"`
	BudgetKWh float64 `json:"budget_kwh"`
	Minutes   float64 `json:"minutes"`
}

type groupDayView struct {
	Group            string  `json:"group"`
	MiningKWh        float64 `json:"mining_kwh"`
	MeasuredKWh      float64 `json:"measured_kwh"`
	EstimatedKWh     float64 `json:"estimated_kwh"`
	MeasuredSamples  int64   `json:"measured_samples"`
	EstimatedSamples int64   `json:"estimated_samples"`
	ShedKWh          float64 `json:"shed_kwh"`
	CurtailedMinutes float64 `json:"curtailed_minutes"`
	CurtailEvents    int64   `json:"curtail_events"`
	PricedKWh        float64 `json:"priced_kwh"`
	Cost             float64 `json:"cost"`
	Minutes          float64 `json:"minutes"`
}

// revenueNote is the report's revenue field.
const revenueNote = "expected BTC from accepted shares"

func (s *Server) handleEnergyReport(w http.ResponseWriter, r *http.Request, _ identity) {
	from, end, err := dayRange(r, store.MaxReportDays)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st, er, ok := s.energyStore(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendWait)
	defer cancel()
	to := end.AddDate(0, 0, -1)
	days, err := st.EnergyReport(ctx, from, to, r.URL.Query().Get("group"))
	if err != nil {
		s.backendError(w, err)
		return
	}
	out := energyReportResponse{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), PriceUnit: er.PriceUnit(),
		Revenue: revenueNote, Days: make([]reportDayView, 0, len(days))}
	for _, d := range days {
		v := reportDayView{Day: d.Day.Format(time.DateOnly), AcceptedDifficulty: d.AcceptedDifficulty, RevenueBTC: d.ExpectedSats / 1e8,
			Site:   siteDayView{ImportKWh: d.Site.ImportKWh, MiningKWh: d.Site.MiningKWh, AIKWh: d.Site.AIKWh, BudgetKWh: d.Site.BudgetKWh, Minutes: d.Site.Minutes},
			Groups: make([]groupDayView, 0, len(d.Groups))}
		for _, g := range d.Groups {
			v.Groups = append(v.Groups, groupDayView{Group: g.Group, MiningKWh: g.MiningKWh, MeasuredKWh: g.MeasuredKWh,
				EstimatedKWh: g.EstimatedKWh, MeasuredSamples: g.MeasuredSamples, EstimatedSamples: g.EstimatedSamples,
				ShedKWh: g.ShedKWh, CurtailedMinutes: g.CurtailedMinutes, CurtailEvents: g.CurtailEvents,
				PricedKWh: g.PricedKWh, Cost: g.Cost, Minutes: g.Minutes})
		}
		out.Days = append(out.Days, v)
	}
	writeJSON(w, http.StatusOK, out)
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// GroupEnergy is one fleet group's energy over one metering interval. The power controller
// integrates it from the policy's view of each miner (see power's groupLedger for how each
// figure is measured).
type GroupEnergy struct {
	Start  time.Time
	Length time.Duration
	Group  string
	// MeasuredKWh is mining energy taken from the miners' own power reports, EstimatedKWh
	// from the policy's estimate where no fresh report existed; their sum is the group's
	// mining energy. MeasuredSamples and EstimatedSamples count the miner samples behind each.
	MeasuredKWh, EstimatedKWh         float64
	MeasuredSamples, EstimatedSamples int64
	// ShedKWh is what the group's miners would have drawn at full (rated) power minus what
	// they drew, counted only while the policy held them paused or throttled.
	ShedKWh float64
	// CurtailedSeconds is how long at least one miner of the group was held paused or
	// throttled; CurtailEvents counts the policy steps that lowered a miner of the group.
	CurtailedSeconds float64
	CurtailEvents    int64
	// PricedKWh is the mining energy drawn while the price meter was healthy and Cost what
	// it cost (kWh x price per MWh / 1000, in the price meter's currency).
	PricedKWh, Cost float64
	// Miners is the most miners of the group seen in one sample.
	Miners int
}

// MiningKWh is the group's mining energy, whatever its source.
func (g GroupEnergy) MiningKWh() float64 { return g.MeasuredKWh + g.EstimatedKWh }

func (g GroupEnergy) valid() bool {
	for _, v := range []float64{g.MeasuredKWh, g.EstimatedKWh, g.ShedKWh, g.CurtailedSeconds, g.PricedKWh, g.Cost} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return !g.Start.IsZero() && g.Length > 0 && g.Group != ""
}

// RecordGroupEnergy stores group intervals in one transaction, replacing any earlier record
// of the same start and group. It is on disk when the call returns.
func (s *Store) RecordGroupEnergy(ctx context.Context, gs []GroupEnergy) error {
	for _, g := range gs {
		if !g.valid() {
			return fmt.Errorf("%w: group energy needs start, a positive length, a group and finite figures", ErrInvalidRecord)
		}
	}
	if len(gs) == 0 {
		return nil
	}
	return s.auditTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO energy_group
			(start, grp, length_ns, measured_kwh, estimated_kwh, measured_n, estimated_n, shed_kwh,
			 curtailed_s, curtail_events, priced_kwh, cost, miners)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (start, grp) DO UPDATE SET length_ns = excluded.length_ns,
				measured_kwh = excluded.measured_kwh, estimated_kwh = excluded.estimated_kwh,
				measured_n = excluded.measured_n, estimated_n = excluded.estimated_n,
				shed_kwh = excluded.shed_kwh, curtailed_s = excluded.curtailed_s,
				curtail_events = excluded.curtail_events, priced_kwh = excluded.priced_kwh,
				cost = excluded.cost, miners = excluded.miners`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, g := range gs {
			if _, err := ins.ExecContext(ctx, g.Start.UnixNano(), g.Group, int64(g.Length), g.MeasuredKWh, g.EstimatedKWh,
				g.MeasuredSamples, g.EstimatedSamples, g.ShedKWh, g.CurtailedSeconds, g.CurtailEvents,
				g.PricedKWh, g.Cost, g.Miners); err != nil {
				return fmt.Errorf("store: insert group energy: %w", err)
			}
		}
		return nil
	})
}

const groupEnergyCols = `start, grp, length_ns, measured_kwh, estimated_kwh, measured_n, estimated_n, shed_kwh,
	curtailed_s, curtail_events, priced_kwh, cost, miners`

func scanGroupEnergy(rows *sql.Rows) (GroupEnergy, error) {
	var g GroupEnergy
	var start, length int64
	err := rows.Scan(&start, &g.Group, &length, &g.MeasuredKWh, &g.EstimatedKWh, &g.MeasuredSamples, &g.EstimatedSamples,
		&g.ShedKWh, &g.CurtailedSeconds, &g.CurtailEvents, &g.PricedKWh, &g.Cost, &g.Miners)
	g.Start, g.Length = fromNanos(start), time.Duration(length)
	return g, err
}

// GroupEnergySeries returns the group intervals starting in [from, to), oldest first and by
// group within an interval; an empty group means every group.
func (s *Store) GroupEnergySeries(ctx context.Context, from, to time.Time, group string) ([]GroupEnergy, error) {
	q := `SELECT ` + groupEnergyCols + ` FROM energy_group WHERE start >= ? AND start < ?`
	args := []any{from.UnixNano(), to.UnixNano()}
	if group != "" {
		q += ` AND grp = ?`
		args = append(args, group)
	}
	rows, err := s.query(ctx, q+` ORDER BY start, grp`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []GroupEnergy
	for rows.Next() {
		g, err := scanGroupEnergy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// MaxReportDays bounds a daily report's range.
const MaxReportDays = 366

// SiteDay is the site's energy over one UTC day, summed from the site intervals.
type SiteDay struct {
	ImportKWh, MiningKWh, AIKWh, BudgetKWh float64
	Minutes                                float64 // metered minutes (interval lengths summed)
}

// GroupDay is one fleet group's energy over one UTC day, summed from its intervals.
type GroupDay struct {
	Group                             string
	MiningKWh                         float64 // MeasuredKWh + EstimatedKWh
	MeasuredKWh, EstimatedKWh         float64
	MeasuredSamples, EstimatedSamples int64
	ShedKWh                           float64
	// CurtailedMinutes counts the intervals (minutes) with at least one miner of the group
	// held paused or throttled by the policy for any part of it.
	CurtailedMinutes float64
	CurtailEvents    int64
	PricedKWh, Cost  float64
	Minutes          float64 // minutes with a record for the group
}

// ReportDay is one UTC day of the energy report.
type ReportDay struct {
	Day    time.Time // midnight UTC
	Site   SiteDay
	Groups []GroupDay // by group name
	// AcceptedDifficulty is the difficulty the pools accepted that day, every worker
	// together: the work the site was paid for.
	AcceptedDifficulty float64
	// ExpectedSats is the expected value of those shares in satoshis: each share's
	// difficulty / its job's network difficulty × its job's coinbase value. It is what the
	// work was worth on average, not what a pool paid.
	ExpectedSats float64
}

// EnergyReport sums the energy records of the UTC days [from, to] (dates; their time of day
// is ignored) per day and per group; a non-empty group keeps that group alone. Days with no
// record at all are left out.
func (s *Store) EnergyReport(ctx context.Context, from, to time.Time, group string) ([]ReportDay, error) {
	from = utcDay(from)
	end := utcDay(to).AddDate(0, 0, 1)
	if !end.After(from) {
		return nil, fmt.Errorf("%w: report range ends before it starts", ErrInvalidRecord)
	}
	if end.Sub(from) > MaxReportDays*24*time.Hour {
		return nil, fmt.Errorf("%w: report range longer than %d days", ErrInvalidRecord, MaxReportDays)
	}
	const day = int64(24 * time.Hour)
	days := map[int64]*ReportDay{}
	get := func(k int64) *ReportDay {
		d := days[k]
		if d == nil {
			d = &ReportDay{Day: fromNanos(k * day)}
			days[k] = d
		}
		return d
	}
	f, t := from.UnixNano(), end.UnixNano()
	rows, err := s.query(ctx, `SELECT start / ?, SUM(import_kwh), SUM(mining_kwh), SUM(ai_kwh), SUM(budget_kwh),
		SUM(length_ns) / 60e9 FROM energy WHERE start >= ? AND start < ? GROUP BY 1`, day, f, t)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k int64
		var sd SiteDay
		if err := rows.Scan(&k, &sd.ImportKWh, &sd.MiningKWh, &sd.AIKWh, &sd.BudgetKWh, &sd.Minutes); err != nil {
			rows.Close()
			return nil, err
		}
		get(k).Site = sd
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q := `SELECT start / ?, grp, SUM(measured_kwh), SUM(estimated_kwh), SUM(measured_n), SUM(estimated_n),
		SUM(shed_kwh), SUM(CASE WHEN curtailed_s > 0 THEN length_ns ELSE 0 END) / 60e9, SUM(curtail_events),
		SUM(priced_kwh), SUM(cost), SUM(length_ns) / 60e9
		FROM energy_group WHERE start >= ? AND start < ?`
	args := []any{day, f, t}
	if group != "" {
		q += ` AND grp = ?`
		args = append(args, group)
	}
	rows, err = s.query(ctx, q+` GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k int64
		var g GroupDay
		if err := rows.Scan(&k, &g.Group, &g.MeasuredKWh, &g.EstimatedKWh, &g.MeasuredSamples, &g.EstimatedSamples,
			&g.ShedKWh, &g.CurtailedMinutes, &g.CurtailEvents, &g.PricedKWh, &g.Cost, &g.Minutes); err != nil {
			rows.Close()
			return nil, err
		}
		g.MiningKWh = g.MeasuredKWh + g.EstimatedKWh
		d := get(k)
		d.Groups = append(d.Groups, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Accepted difficulty from both rollups (minutes, and the hours older minutes fold into).
	rows, err = s.query(ctx, `SELECT b / 86400, SUM(diff_sum), SUM(sats_sum) FROM (
		SELECT minute AS b, diff_sum, sats_sum FROM share_rollup WHERE result = ? AND minute >= ? AND minute < ?
		UNION ALL
		SELECT hour AS b, diff_sum, sats_sum FROM share_rollup_hour WHERE result = ? AND hour >= ? AND hour < ?
	) GROUP BY 1`, ResultPoolAccepted, from.Unix(), end.Unix(), ResultPoolAccepted, from.Unix(), end.Unix())
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k int64
		var diff, sats float64
		if err := rows.Scan(&k, &diff, &sats); err != nil {
			rows.Close()
			return nil, err
		}
		d := get(k)
		d.AcceptedDifficulty, d.ExpectedSats = diff, sats
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]ReportDay, 0, len(days))
	for k := f / day; k < t/day; k++ {
		if d := days[k]; d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

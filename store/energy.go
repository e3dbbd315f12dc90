package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// EnergyInterval is the site's energy over one metering interval.
type EnergyInterval struct {
	Start     time.Time
	Length    time.Duration
	ImportKWh float64 // energy imported from the grid (negative when exporting)
	MiningKWh float64 // energy drawn by the mining fleet
	AIKWh     float64 // energy drawn by AI/compute loads
	BudgetKWh float64 // the energy the policy allowed for mining
}

// RecordEnergy stores an interval, replacing any earlier record with the
// same start (a late meter correction). It is on disk when the call returns.
func (s *Store) RecordEnergy(ctx context.Context, e EnergyInterval) error {
	if e.Start.IsZero() || e.Length <= 0 {
		return fmt.Errorf("%w: energy interval needs start and a positive length", ErrInvalidRecord)
	}
	return s.auditTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO energy
			(start, length_ns, import_kwh, mining_kwh, ai_kwh, budget_kwh) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (start) DO UPDATE SET length_ns = excluded.length_ns,
				import_kwh = excluded.import_kwh, mining_kwh = excluded.mining_kwh,
				ai_kwh = excluded.ai_kwh, budget_kwh = excluded.budget_kwh`,
			e.Start.UnixNano(), int64(e.Length), e.ImportKWh, e.MiningKWh, e.AIKWh, e.BudgetKWh)
		if err != nil {
			return fmt.Errorf("store: insert energy: %w", err)
		}
		return nil
	})
}

// EnergySeries returns the intervals starting in [from, to), oldest first.
func (s *Store) EnergySeries(ctx context.Context, from, to time.Time) ([]EnergyInterval, error) {
	rows, err := s.query(ctx, `SELECT start, length_ns, import_kwh, mining_kwh, ai_kwh, budget_kwh
		FROM energy WHERE start >= ? AND start < ? ORDER BY start`, from.UnixNano(), to.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EnergyInterval
	for rows.Next() {
		var e EnergyInterval
		var start, length int64
		if err := rows.Scan(&start, &length, &e.ImportKWh, &e.MiningKWh, &e.AIKWh, &e.BudgetKWh); err != nil {
			return nil, err
		}
		e.Start, e.Length = fromNanos(start), time.Duration(length)
		out = append(out, e)
	}
	return out, rows.Err()
}

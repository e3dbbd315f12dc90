package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Decision is one policy decision for one miner.
type Decision struct {
	ID         int64 // assigned by the store
	Time       time.Time
	MinerID    string
	Action     string  // the policy's action name (run, pause, set_power, ...)
	TargetKW   float64 // the power target the action sets; 0 when none
	ReasonCode string  // a stable code the console can filter on
	Reason     string  // the human explanation
	// Inputs is the JSON of what the engine decided from (readings, budget,
	// fleet state). Empty means {}.
	Inputs json.RawMessage
}

// MinerState is the last decision in force for a miner, kept so that a
// restart resumes it rather than briefly releasing the fleet.
type MinerState struct {
	MinerID    string
	Time       time.Time
	Action     string
	TargetKW   float64
	ReasonCode string
	// DecisionID is the decision that set the state, or 0 if retention has
	// since pruned it.
	DecisionID int64
}

// Event is an audit record: something that happened (meter stale, failover,
// manual override), with the actor when a person did it.
type Event struct {
	ID      int64 // assigned by the store
	Time    time.Time
	Kind    string // dotted kind, e.g. "meter.stale", "manual.pause"
	Subject string // what it concerns: a miner, pool, meter or ""
	// Detail is the event's JSON payload. Empty means {}.
	Detail json.RawMessage
	Actor  string // who acted, for manual actions; "" for the system
}

// jsonOrEmpty returns raw as text, "{}" when empty, or an error when it is
// not valid JSON.
func jsonOrEmpty(what string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "{}", nil
	}
	if !json.Valid(raw) {
		return "", fmt.Errorf("%w: %s is not valid JSON", ErrInvalidRecord, what)
	}
	return string(raw), nil
}

// RecordDecisions stores decisions and updates each miner's last state, all
// in one transaction that is on disk when the call returns. It sets the ID
// of each element of ds.
func (s *Store) RecordDecisions(ctx context.Context, ds ...Decision) error {
	return s.RecordAudit(ctx, ds, nil)
}

// LastStates returns the last decided state of every miner, by miner id.
func (s *Store) LastStates(ctx context.Context) (map[string]MinerState, error) {
	rows, err := s.query(ctx, `SELECT miner, ts, action, target_kw, reason_code, IFNULL(decision_id, 0)
		FROM miner_state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]MinerState)
	for rows.Next() {
		var m MinerState
		var ts int64
		if err := rows.Scan(&m.MinerID, &ts, &m.Action, &m.TargetKW, &m.ReasonCode, &m.DecisionID); err != nil {
			return nil, err
		}
		m.Time = fromNanos(ts)
		out[m.MinerID] = m
	}
	return out, rows.Err()
}

// LatestEvents returns the newest event of kind for every subject, keyed by subject (the
// last confirmed command of every miner, for one).
func (s *Store) LatestEvents(ctx context.Context, kind string) (map[string]Event, error) {
	rows, err := s.query(ctx, `SELECT e.id, e.ts, e.subject, e.detail, e.actor FROM events e
		JOIN (SELECT MAX(id) AS id FROM events WHERE kind = ? GROUP BY subject) l ON e.id = l.id`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]Event)
	for rows.Next() {
		e := Event{Kind: kind}
		var ts int64
		var detail string
		if err := rows.Scan(&e.ID, &ts, &e.Subject, &detail, &e.Actor); err != nil {
			return nil, err
		}
		e.Time, e.Detail = fromNanos(ts), json.RawMessage(detail)
		out[e.Subject] = e
	}
	return out, rows.Err()
}

// Forget names a miner whose last state is no longer wanted, and the time it was given up: a
// state decided after Before (the miner came back meanwhile) is kept.
type Forget struct {
	MinerID string
	Before  time.Time
}

// ForgetMiners deletes the last state of miners gone for good (the power inventory's offline
// TTL), in one transaction, and returns how many rows went. Their decisions stay until
// retention removes them. It is not synced to disk before it returns: a state that reappears
// after a power cut is restored and forgotten again.
func (s *Store) ForgetMiners(ctx context.Context, fs []Forget) (int64, error) {
	s.senders.RLock() // Close waits for a write in progress
	defer s.senders.RUnlock()
	if s.isClosed() {
		return 0, ErrClosed
	}
	// On the ledger writer, like Prune: no fsync for a delete that may be redone.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.ledger.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	del, err := tx.PrepareContext(ctx, `DELETE FROM miner_state WHERE miner = ? AND ts <= ?`)
	if err != nil {
		return 0, err
	}
	defer del.Close()
	var n int64
	for _, f := range fs {
		res, err := del.ExecContext(ctx, f.MinerID, f.Before.UnixNano())
		if err != nil {
			return 0, fmt.Errorf("store: forget miner: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		n += k
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: commit: %w", err)
	}
	return n, nil
}

// RecordEvent stores an audit event; it is on disk when the call returns.
// It returns the event's id.
func (s *Store) RecordEvent(ctx context.Context, e Event) (int64, error) {
	if e.Kind == "" || e.Time.IsZero() {
		return 0, fmt.Errorf("%w: event needs kind and time", ErrInvalidRecord)
	}
	detail, err := jsonOrEmpty("event detail", e.Detail)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.auditTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO events (ts, kind, subject, detail, actor)
			VALUES (?, ?, ?, ?, ?)`, e.Time.UnixNano(), e.Kind, e.Subject, detail, e.Actor)
		if err != nil {
			return fmt.Errorf("store: insert event: %w", err)
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// query runs a read-only query, reporting ErrClosed after Close.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query: %w", err)
	}
	return rows, nil
}

// RecordAudit stores decisions (updating each miner's state, as RecordDecisions does) and
// events in one durable transaction: a whole policy round is kept or lost together, and a
// 10,000-miner shed costs one fsync instead of 20,000.
func (s *Store) RecordAudit(ctx context.Context, ds []Decision, es []Event) error {
	inputs := make([]string, len(ds))
	for i, d := range ds {
		if d.MinerID == "" || d.Action == "" || d.Time.IsZero() {
			return fmt.Errorf("%w: decision needs miner, action and time", ErrInvalidRecord)
		}
		var err error
		if inputs[i], err = jsonOrEmpty("decision inputs", d.Inputs); err != nil {
			return err
		}
	}
	details := make([]string, len(es))
	for i, e := range es {
		if e.Kind == "" || e.Time.IsZero() {
			return fmt.Errorf("%w: event needs kind and time", ErrInvalidRecord)
		}
		var err error
		if details[i], err = jsonOrEmpty("event detail", e.Detail); err != nil {
			return err
		}
	}
	return s.auditTx(ctx, func(tx *sql.Tx) error {
		if len(ds) > 0 {
			ins, err := tx.PrepareContext(ctx, `INSERT INTO decisions
				(ts, miner, action, target_kw, reason_code, reason, inputs) VALUES (?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer ins.Close()
			up, err := tx.PrepareContext(ctx, `INSERT INTO miner_state
				(miner, ts, action, target_kw, reason_code, decision_id) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (miner) DO UPDATE SET ts = excluded.ts, action = excluded.action,
					target_kw = excluded.target_kw, reason_code = excluded.reason_code,
					decision_id = excluded.decision_id
				WHERE excluded.ts >= miner_state.ts`)
			if err != nil {
				return err
			}
			defer up.Close()
			for i := range ds {
				d := &ds[i]
				ts := d.Time.UnixNano()
				res, err := ins.ExecContext(ctx, ts, d.MinerID, d.Action, d.TargetKW, d.ReasonCode, d.Reason, inputs[i])
				if err != nil {
					return fmt.Errorf("store: insert decision: %w", err)
				}
				if d.ID, err = res.LastInsertId(); err != nil {
					return err
				}
				if _, err := up.ExecContext(ctx, d.MinerID, ts, d.Action, d.TargetKW, d.ReasonCode, d.ID); err != nil {
					return fmt.Errorf("store: update miner state: %w", err)
				}
			}
		}
		if len(es) > 0 {
			ins, err := tx.PrepareContext(ctx, `INSERT INTO events (ts, kind, subject, detail, actor) VALUES (?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer ins.Close()
			for i := range es {
				e := &es[i]
				res, err := ins.ExecContext(ctx, e.Time.UnixNano(), e.Kind, e.Subject, details[i], e.Actor)
				if err != nil {
					return fmt.Errorf("store: insert event: %w", err)
				}
				if e.ID, err = res.LastInsertId(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

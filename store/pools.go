package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PoolEdit is the console's word on one pool, by name, over the config file's [[pool]] list:
// either the pool as it is to run (added, or a file pool edited) or, Removed, a file pool
// that is not to run. A file pool with no edit runs as the file says. The password is kept
// here because the pool needs it to reconnect after a restart; it never goes into the audit
// trail's detail.
type PoolEdit struct {
	Name     string
	Removed  bool
	URL      string
	User     string
	Password string
	Priority int
	Weight   float64
	Time     time.Time // when the console last changed this pool
	Actor    string    // who did
}

// PoolEdits returns the console's pool edits, by name.
func (s *Store) PoolEdits(ctx context.Context) ([]PoolEdit, error) {
	rows, err := s.query(ctx, `SELECT name, removed, url, user, password, priority, weight, ts, actor
		FROM pool_edits ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PoolEdit
	for rows.Next() {
		var e PoolEdit
		var ts int64
		if err := rows.Scan(&e.Name, &e.Removed, &e.URL, &e.User, &e.Password, &e.Priority, &e.Weight, &ts, &e.Actor); err != nil {
			return nil, err
		}
		e.Time = fromNanos(ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SavePoolEdits replaces the console's pool edits with edits and records ev, the audit event
// of the change, in one durable transaction: the pool set after a restart is the one the
// audit trail says was last made.
func (s *Store) SavePoolEdits(ctx context.Context, edits []PoolEdit, ev Event) error {
	for _, e := range edits {
		if e.Name == "" || e.Time.IsZero() {
			return fmt.Errorf("%w: pool edit needs name and time", ErrInvalidRecord)
		}
	}
	if ev.Kind == "" || ev.Time.IsZero() {
		return fmt.Errorf("%w: event needs kind and time", ErrInvalidRecord)
	}
	detail, err := jsonOrEmpty("event detail", ev.Detail)
	if err != nil {
		return err
	}
	return s.auditTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pool_edits`); err != nil {
			return fmt.Errorf("store: clear pool edits: %w", err)
		}
		for _, e := range edits {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pool_edits
				(name, removed, url, user, password, priority, weight, ts, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				e.Name, e.Removed, e.URL, e.User, e.Password, e.Priority, e.Weight, e.Time.UnixNano(), e.Actor); err != nil {
				return fmt.Errorf("store: insert pool edit: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (ts, kind, subject, detail, actor) VALUES (?, ?, ?, ?, ?)`,
			ev.Time.UnixNano(), ev.Kind, ev.Subject, detail, ev.Actor); err != nil {
			return fmt.Errorf("store: insert event: %w", err)
		}
		return nil
	})
}

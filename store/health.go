package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Health reports whether the database takes durable writes now. A share writer in a failure
// episode (see WriteState) answers at once with its error. Otherwise Health commits one real
// transaction on the audit connection (rewriting the header's application_id with the value
// it already holds, so nothing changes), which fails as an audit record would: database
// closed, locked by another process beyond busy_timeout, file or disk read-only, disk full.
// That costs one fsync and waits behind a share batch in progress, so callers should not run
// it more often than every few seconds.
func (s *Store) Health(ctx context.Context) error {
	if ws := s.WriteState(); ws.Err != nil {
		return fmt.Errorf("store: share writes failing since %s (%d failed commits): %w",
			ws.Since.UTC().Format(time.RFC3339), ws.Failures, ws.Err)
	}
	err := s.auditTx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&id); err != nil {
			return err
		}
		// PRAGMA takes no bound parameters; id is the integer SQLite just gave us.
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", id))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: write probe: %w", err)
	}
	return nil
}

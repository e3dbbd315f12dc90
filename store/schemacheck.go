package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// CheckSchema reads the schema version of the database at cfg.Path without writing to it and
// says whether this build can open it: a missing file is created and migrated by Open, a
// version newer than this build's migrations is ErrSchemaTooNew. A process taking over from a
// running one calls it before it says it is ready, while the other still owns the file: once
// that one has exited, a store this build cannot open would leave nothing serving.
func CheckSchema(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	db, err := openDB(cfg, "NORMAL", true, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("%w: version %d, this build knows %d", ErrSchemaTooNew, v, len(migrations))
	}
	return nil
}

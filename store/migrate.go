package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/rs/zerolog"
)

// migrations are applied in order; migration i brings the schema to
// user_version i+1. Never edit one that has shipped: append a new one.
//
// Times are INTEGER Unix nanoseconds (UTC). Share results and reasons are
// stored as the small codes of Result and short text codes.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE shares (
	id          INTEGER PRIMARY KEY,
	ts          INTEGER NOT NULL,
	worker      TEXT    NOT NULL,
	pool        TEXT    NOT NULL,
	job         TEXT    NOT NULL,
	difficulty  REAL    NOT NULL,
	share_diff  REAL    NOT NULL,
	result      INTEGER NOT NULL,
	reason      TEXT    NOT NULL DEFAULT '',
	hash        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX shares_ts ON shares(ts);

-- Per-minute aggregate of shares; the console reads this, not the ledger.
CREATE TABLE share_rollup (
	minute     INTEGER NOT NULL, -- Unix seconds, multiple of 60
	worker     TEXT    NOT NULL,
	pool       TEXT    NOT NULL,
	result     INTEGER NOT NULL,
	reason     TEXT    NOT NULL,
	n          INTEGER NOT NULL,
	diff_sum   REAL    NOT NULL, -- sum of assigned difficulty: the work done
	PRIMARY KEY (minute, worker, pool, result, reason)
) WITHOUT ROWID;
CREATE INDEX share_rollup_worker ON share_rollup(worker, minute);

CREATE TABLE decisions (
	id          INTEGER PRIMARY KEY,
	ts          INTEGER NOT NULL,
	miner       TEXT    NOT NULL,
	action      TEXT    NOT NULL,
	target_kw   REAL    NOT NULL,
	reason_code TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	inputs      TEXT    NOT NULL CHECK (json_valid(inputs))
);
CREATE INDEX decisions_ts ON decisions(ts);
CREATE INDEX decisions_miner ON decisions(miner, id);

CREATE TABLE miner_state (
	miner       TEXT PRIMARY KEY,
	ts          INTEGER NOT NULL,
	action      TEXT    NOT NULL,
	target_kw   REAL    NOT NULL,
	reason_code TEXT    NOT NULL,
	-- The decision that set this state; cleared when retention prunes it,
	-- while the state itself is kept.
	decision_id INTEGER REFERENCES decisions(id) ON DELETE SET NULL
) WITHOUT ROWID;
-- Lets pruning a decision find the state that references it without a scan.
CREATE INDEX miner_state_decision ON miner_state(decision_id);

CREATE TABLE events (
	id      INTEGER PRIMARY KEY,
	ts      INTEGER NOT NULL,
	kind    TEXT    NOT NULL,
	subject TEXT    NOT NULL,
	detail  TEXT    NOT NULL CHECK (json_valid(detail)),
	actor   TEXT    NOT NULL
);
CREATE INDEX events_ts ON events(ts);
CREATE INDEX events_kind ON events(kind, id);

CREATE TABLE energy (
	start       INTEGER PRIMARY KEY, -- interval start
	length_ns   INTEGER NOT NULL,
	import_kwh  REAL    NOT NULL,
	mining_kwh  REAL    NOT NULL,
	ai_kwh      REAL    NOT NULL,
	budget_kwh  REAL    NOT NULL
);
`,
	// 2: minutes of the share rollup older than minute_rollup_retention are
	// folded into hours: a day of minutes at 10,000 workers is ~30 million
	// rows.
	`
CREATE TABLE share_rollup_hour (
	hour       INTEGER NOT NULL, -- Unix seconds, multiple of 3600
	worker     TEXT    NOT NULL,
	pool       TEXT    NOT NULL,
	result     INTEGER NOT NULL,
	reason     TEXT    NOT NULL,
	n          INTEGER NOT NULL,
	diff_sum   REAL    NOT NULL,
	PRIMARY KEY (hour, worker, pool, result, reason)
) WITHOUT ROWID;
CREATE INDEX share_rollup_hour_worker ON share_rollup_hour(worker, hour);
`,
	// 3: each fleet group's energy per metering interval (energy reports): what it mined,
	// by the source of the power figure, what the policy shed, and the cost where a price
	// meter reads.
	`
CREATE TABLE energy_group (
	start          INTEGER NOT NULL, -- interval start
	grp            TEXT    NOT NULL, -- [[fleet]] group name
	length_ns      INTEGER NOT NULL,
	measured_kwh   REAL    NOT NULL, -- mining energy from firmware telemetry
	estimated_kwh  REAL    NOT NULL, -- mining energy from the policy's estimate
	measured_n     INTEGER NOT NULL, -- miner samples that used telemetry
	estimated_n    INTEGER NOT NULL, -- miner samples that used the estimate
	shed_kwh       REAL    NOT NULL,
	curtailed_s    REAL    NOT NULL, -- seconds with a miner held below full power
	curtail_events INTEGER NOT NULL, -- policy steps that shed a miner of the group
	priced_kwh     REAL    NOT NULL, -- mining energy drawn while a price was known
	cost           REAL    NOT NULL, -- in the price meter's currency
	miners         INTEGER NOT NULL, -- the most miners seen in one sample
	PRIMARY KEY (start, grp)
) WITHOUT ROWID;
`,
	// 4: the console's pool edits, by name, over the config file's [[pool]] list (removed: a
	// file pool not to run); applied again at start.
	`
CREATE TABLE pool_edits (
	name     TEXT    PRIMARY KEY,
	removed  INTEGER NOT NULL,
	url      TEXT    NOT NULL,
	user     TEXT    NOT NULL,
	password TEXT    NOT NULL,
	priority INTEGER NOT NULL,
	weight   REAL    NOT NULL,
	ts       INTEGER NOT NULL,
	actor    TEXT    NOT NULL
) WITHOUT ROWID;
`,
	// 4: group energy goes with the site energy retention prunes: when an interval of the
	// site is deleted, so are the group intervals up to its start (a minute the site meter
	// missed included).
	`
CREATE TRIGGER energy_group_retention AFTER DELETE ON energy BEGIN
	DELETE FROM energy_group WHERE start <= OLD.start;
END;
`,
	// 6: the expected satoshis of the shares (difficulty / network difficulty × the job's
	// coinbase value) beside their difficulty, for the energy report's revenue.
	`
ALTER TABLE share_rollup ADD COLUMN sats_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE share_rollup_hour ADD COLUMN sats_sum REAL NOT NULL DEFAULT 0;
`,
}

// migrate applies every pending migration, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB, log zerolog.Logger) error {
	for {
		done, err := migrateOne(ctx, db, log)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next pending migration, reading the version inside
// the write transaction so that two processes opening the same file cannot
// both apply it.
func migrateOne(ctx context.Context, db *sql.DB, log zerolog.Logger) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("store: read schema version: %w", err)
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("%w: version %d, this build knows %d", ErrSchemaTooNew, v, len(migrations))
	case v == len(migrations):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("store: migration %d: %w", v+1, err)
	}
	// PRAGMA takes no bound parameters; v+1 is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("store: migration %d: set version: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: migration %d: commit: %w", v+1, err)
	}
	log.Info().Int("version", v+1).Msg("schema migrated")
	return false, nil
}

// Package store keeps hashgate's durable records in an embedded SQLite
// database (modernc.org/sqlite, pure Go): the share ledger with per-minute
// rollups, policy decisions, audit events, energy per interval and the last
// decided state of every miner.
//
// # Connections and durability
//
// The database runs in WAL mode with foreign keys on and a busy timeout. Three
// connection pools share the file:
//
//   - the ledger writer (one connection, synchronous=NORMAL) used only by the
//     share batcher and retention pruning. A WAL commit under NORMAL is in
//     the operating system's page cache when it returns, so it survives the
//     process being killed; a power cut may lose the last few commits, never
//     the database. Shares are high volume and losing the last instants of
//     the ledger to a power cut is an accepted trade for not calling fsync
//     on every batch.
//   - the audit writer (one connection, synchronous=FULL) used for policy
//     decisions, miner states, audit events and energy intervals. Each call
//     commits its own transaction and fsyncs the WAL before returning, so a
//     record whose call returned survives kill -9 and power loss alike.
//   - readers (a few connections, query_only) for the console queries; in WAL
//     mode they never block the writers.
//
// The two writers are serialised by a mutex in the process, so neither waits
// in SQLite's sleeping busy handler for the other; the busy timeout remains
// for other processes that open the file (a backup, the sqlite3 shell). An
// audit write therefore waits for at most one share transaction
// (Config.MaxBatch events) before its own.
//
// # Share events
//
// [Store.RecordShare] never writes on the caller's goroutine. Events go
// through one of two bounded queues to a single writer goroutine that commits
// them in batches (up to Config.MaxBatch events, or whatever arrived within
// Config.FlushInterval of the first one) with prepared statements, and folds
// them into the per-minute rollup in the same transaction.
//
// The queues have different policies, chosen per [Result]:
//
//   - lossy (accepted_local, rejected): events a miner produces at its own
//     rate. When the queue is full the event's ledger row is dropped and
//     counted (Stats.SharesShed), but the event is still added to an in-memory
//     rollup that the writer merges on its next batch, so per-worker counts
//     stay exact under overload. Only when that overflow table is also full
//     (Config.OverflowKeys distinct worker/pool/minute keys) is an event lost
//     entirely (Stats.SharesLost). The proxy never stalls on this path.
//   - lossless (forwarded, pool_accepted, pool_rejected, block_candidate):
//     events about work the pool has seen, far rarer than local shares. They
//     are not dropped while writes succeed: when the queue is full the caller
//     blocks until there is room, its context ends or the store closes, and
//     an error says the event was not taken. During a write failure (below)
//     a full queue refuses them at once (ErrShareLost, counted), because the
//     callers are the proxy's pool and miner readers. Every event accepted
//     before Close is committed by Close.
//
// Events still queued when the process is killed are lost; [Store.Flush]
// waits until everything queued before it is committed.
//
// # Write failures
//
// A commit that fails (disk full, a lock held past the busy timeout) loses
// nothing: the writer keeps the batch, lossy events included, and retries it
// with a back-off of up to five seconds, taking no new events meanwhile. The
// queues fill, then the policies above apply, so an outage costs ledger rows
// only once the queues are full, and every one is counted. The first failure
// of an episode is logged at error level with its cause and the rest only
// counted; the first success logs how many failures there were and how many
// shares the ledger missed. [Store.WriteState] says whether the writer is
// failing. Drops while writes succeed (the store not keeping up) are logged
// at most once a minute.
//
// # Schema
//
// Migrations are numbered, applied in order, each in its own transaction
// together with PRAGMA user_version, so a crash mid-migration leaves the
// previous version intact. A database newer than this code is refused.
//
// # Retention and size
//
// [Store.Prune] deletes ledger rows older than Config.ShareRetention and
// everything else older than Config.Retention, in small transactions so the
// batcher is never held up for long. The caller may run it, or set
// Config.PruneInterval and the store runs it on its [Clock].
//
// Time alone does not bound the raw ledger: at 10,000 shares a second three
// days are 2.6 billion rows. Config.ShareMaxRows caps it by rows, oldest
// first, block candidates, pool rejections and unanswered shares excepted.
// The writer asks for a trim each time it has committed a 32nd of the cap,
// so the cap holds between prunes at any rate the writer sustains. Pages
// freed by deletes are reused, so once the cap binds the file stops growing
// but for the rollup; lowering the cap does not shrink the file (VACUUM does,
// offline). A reader holding a snapshot lets the WAL grow past its usual
// ~4 MB; the next writer to restart it cuts it back to 8 MB.
//
// The rollup has a row per worker, pool, result and minute: ~30 million a
// day at 10,000 workers. Prune folds minutes older than
// Config.MinuteRollupRetention into per-hour rows, a minute per
// transaction, and keeps those for Config.Retention.
package store

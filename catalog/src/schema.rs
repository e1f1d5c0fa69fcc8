//! Schema migrations: versioned SQL files applied in order, tracked by `PRAGMA user_version`.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction together with the
//! `user_version` bump, so a crash leaves the file at the previous version, and two
//! processes opening the same old file never apply a step twice.

use rusqlite::{Connection, TransactionBehavior};

/// `PRAGMA application_id` of an atoll catalog ("atol" in ASCII).
pub const APPLICATION_ID: i64 = 0x6174_6f6c;

/// The migrations, in order; migration `i` brings the file to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_init.sql"),
    include_str!("migrations/002_search.sql"),
    include_str!("migrations/003_bounded_audit.sql"),
    include_str!("migrations/004_desired_state.sql"),
    include_str!("migrations/005_relays.sql"),
    include_str!("migrations/006_key_state.sql"),
    include_str!("migrations/007_blocks.sql"),
    include_str!("migrations/008_updates.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Read `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Read `PRAGMA application_id`.
pub(crate) fn application_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA application_id", [], |r| r.get(0))
}

/// Number of schema objects in the file (0 for an empty database).
pub(crate) fn object_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
}

/// Apply every migration above the file's version. Returns `(version, error)` of the step
/// that failed, if one did.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), (i64, rusqlite::Error)> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        let step = |conn: &mut Connection| -> rusqlite::Result<bool> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Re-read under the write lock: another process may have migrated meanwhile.
            if user_version(&tx)? >= version {
                return Ok(false);
            }
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
            Ok(true)
        };
        if step(conn).map_err(|e| (version, e))? {
            tracing::info!(version, "catalog schema migrated");
        }
    }
    Ok(())
}

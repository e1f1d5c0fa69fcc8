//! `check`: SQLite's own integrity check plus the catalog's invariants. Used by the crash
//! test and by `atoll catalog check`.

use crate::error::{CatalogError, Inconsistency};
use crate::store::Catalog;

/// Counts seen by a successful [`Catalog::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Apps.
    pub apps: u64,
    /// Stored entries (all versions, including conflicts).
    pub entries: u64,
    /// DIDs known.
    pub publishers: u64,
}

/// Each query returns a count of rows that break an invariant, and what it means.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "SELECT count(*) FROM apps a WHERE EXISTS (SELECT 1 FROM entries e WHERE e.app_id = a.id AND e.void IS NULL)
           AND (a.head_entry_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM entries e WHERE e.id = a.head_entry_id AND e.app_id = a.id AND e.status = 'head'))",
        "apps whose head pointer does not name one of their own entries marked head",
    ),
    (
        "SELECT count(*) FROM (SELECT app_id FROM entries WHERE status = 'head' GROUP BY app_id HAVING count(*) > 1)",
        "apps with more than one head entry",
    ),
    (
        "SELECT count(*) FROM apps a JOIN entries h ON h.id = a.head_entry_id
         WHERE EXISTS (SELECT 1 FROM entries e WHERE e.app_id = a.id AND e.status != 'conflict'
                       AND e.void IS NULL AND e.sequence > h.sequence)",
        "apps whose head is not the highest sequence",
    ),
    (
        "SELECT count(*) FROM (SELECT app_id, sequence FROM entries WHERE status != 'conflict'
                               AND void IS NULL GROUP BY app_id, sequence HAVING count(*) > 1)",
        "two non-conflicting entries with one sequence",
    ),
    (
        "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM entry_sources s WHERE s.entry_id = e.id)",
        "entries without a recorded source",
    ),
    (
        "SELECT (SELECT count(*) FROM apps WHERE head_entry_id IS NOT NULL)
              - (SELECT count(*) FROM app_search WHERE rowid IN (SELECT id FROM apps WHERE head_entry_id IS NOT NULL))",
        "apps missing from the search index",
    ),
    (
        "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = e.manifest_hash)",
        "entries whose manifest blob is not indexed",
    ),
];

impl Catalog {
    /// Run SQLite's `integrity_check` and `foreign_key_check`, then the catalog's own
    /// invariants (one head per app, the head has the highest sequence, no two accepted
    /// entries share a sequence, every entry has a source, the search index covers every
    /// app). Reads the whole file: use it for diagnosis, not on every start.
    pub fn check(&self) -> Result<CheckReport, CatalogError> {
        // FTS5 refreshes its cached index structure when a query opens the table, not in
        // the integrity check: on a long-lived read connection, open it once first, or
        // the check reads a structure other connections have since changed.
        self.conn.query_row(
            "SELECT count(*) FROM (SELECT rowid FROM app_search LIMIT 1)",
            [],
            |r| r.get::<_, i64>(0),
        )?;
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        if problems.first().map(String::as_str) != Some("ok") {
            return Err(CatalogError::Corrupt(problems.join("; ")));
        }
        let fk: i64 =
            self.conn
                .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
        if fk > 0 {
            return Err(CatalogError::Inconsistent(Inconsistency::ForeignKeys(fk)));
        }
        for (sql, what) in INVARIANTS {
            let n: i64 = self.conn.query_row(sql, [], |r| r.get(0))?;
            if n != 0 {
                return Err(CatalogError::Inconsistent(Inconsistency::Invariant {
                    count: n,
                    what,
                }));
            }
        }
        let audit: i64 = self
            .conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?;
        if audit > crate::audit::MAX_AUDIT_ROWS {
            return Err(CatalogError::Inconsistent(Inconsistency::AuditOverCap {
                rows: audit,
                cap: crate::audit::MAX_AUDIT_ROWS,
            }));
        }
        let count = |sql: &str| -> Result<u64, CatalogError> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
        };
        Ok(CheckReport {
            apps: count("SELECT count(*) FROM apps")?,
            entries: count("SELECT count(*) FROM entries")?,
            publishers: count("SELECT count(*) FROM publishers")?,
        })
    }
}

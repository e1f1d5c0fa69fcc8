//! Sync cursors: how far the node has read each relay (a Nostr `since`).

use rusqlite::{params, OptionalExtension};

use crate::error::CatalogError;
use crate::store::{now, to_i64, Catalog};

impl Catalog {
    /// The stored `since` of a relay, if any.
    pub fn sync_cursor(&self, relay: &str) -> Result<Option<u64>, CatalogError> {
        Ok(self
            .conn
            .prepare_cached("SELECT since FROM sync_cursors WHERE relay = ?1")?
            .query_row([relay], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|s| s.max(0) as u64))
    }

    /// Advance a relay's cursor. It never moves backwards; returns the stored value.
    pub fn advance_sync_cursor(&mut self, relay: &str, since: u64) -> Result<u64, CatalogError> {
        let now = now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sync_cursors (relay, since, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (relay) DO UPDATE SET since = max(since, ?2), updated_at = ?3",
                params![relay, to_i64(since), to_i64(now)],
            )?;
            Ok(tx
                .query_row(
                    "SELECT since FROM sync_cursors WHERE relay = ?1",
                    [relay],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64)
        })
    }
}

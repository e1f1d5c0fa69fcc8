//! Sync cursors: how far the node has read each relay (a Nostr `since`).
//!
//! A cursor is never ahead of the clock: [`Catalog::advance_sync_cursor`] stores at most
//! now + [`MAX_CURSOR_SKEW_SECS`], and [`Catalog::heal_sync_cursor`] resets one found
//! beyond that (a clock that went back, or a file written by an older atoll that counted
//! future-dated events) to 0 — a full catch-up from that relay — and records it.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::audit::{self, AuditKind};
use crate::error::CatalogError;
use crate::provenance::Provenance;
use crate::store::{now, to_i64, Catalog};

pub use atoll_registry::audit::MAX_CURSOR_SKEW_SECS;

/// A relay's cursor as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CursorRecord {
    /// The relay URL.
    pub relay: String,
    /// Its `since` (unix seconds).
    pub since: u64,
    /// When it was last written.
    pub updated_at: u64,
    /// The value it had when it was last found ahead of the clock and reset, if ever.
    pub reset_from: Option<u64>,
    /// When that happened.
    pub reset_at: Option<u64>,
}

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

    /// Everything stored about a relay's cursor, if any.
    pub fn sync_cursor_record(&self, relay: &str) -> Result<Option<CursorRecord>, CatalogError> {
        let opt = |v: Option<i64>| v.map(|v| v.max(0) as u64);
        Ok(self
            .conn
            .prepare_cached(
                "SELECT since, updated_at, reset_from, reset_at FROM sync_cursors WHERE relay = ?1",
            )?
            .query_row([relay], |r| {
                Ok(CursorRecord {
                    relay: relay.to_owned(),
                    since: r.get::<_, i64>(0)?.max(0) as u64,
                    updated_at: r.get::<_, i64>(1)?.max(0) as u64,
                    reset_from: opt(r.get(2)?),
                    reset_at: opt(r.get(3)?),
                })
            })
            .optional()?)
    }

    /// Advance a relay's cursor. It never moves backwards, and never beyond now +
    /// [`MAX_CURSOR_SKEW_SECS`]; returns the stored value.
    pub fn advance_sync_cursor(&mut self, relay: &str, since: u64) -> Result<u64, CatalogError> {
        let now = now();
        let since = since.min(now.saturating_add(MAX_CURSOR_SKEW_SECS));
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

    /// If the relay's cursor is ahead of now + [`MAX_CURSOR_SKEW_SECS`], reset it to 0 (a
    /// full catch-up: whatever the bad cursor hid comes back, the rest deduplicates) and
    /// record the reset in the cursor row and the audit log. Returns the bad value.
    pub fn heal_sync_cursor(&mut self, relay: &str) -> Result<Option<u64>, CatalogError> {
        let now = now();
        let limit = now.saturating_add(MAX_CURSOR_SKEW_SECS);
        self.write(|tx| {
            let since: Option<i64> = tx
                .query_row(
                    "SELECT since FROM sync_cursors WHERE relay = ?1",
                    [relay],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(bad) = since.map(|s| s.max(0) as u64).filter(|s| *s > limit) else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE sync_cursors SET since = 0, updated_at = ?2, reset_from = ?3, reset_at = ?2
                 WHERE relay = ?1",
                params![relay, to_i64(now), to_i64(bad)],
            )?;
            let key = audit::key(
                AuditKind::CursorReset.as_str(),
                &[relay.as_bytes(), &bad.to_le_bytes()],
            );
            audit::record_in(
                tx,
                now,
                audit::Record {
                    kind: AuditKind::CursorReset,
                    provenance: &Provenance::Relay(relay.to_owned()),
                    key: Some(&key),
                    subject: Some(relay),
                    reason: &format!(
                        "[cursor-reset] the cursor of {relay} was {bad}, ahead of the clock ({now}); reset to 0 for a full catch-up"
                    ),
                    payload: None,
                },
            )?;
            tracing::warn!(%relay, cursor = bad, now, "relay cursor was ahead of the clock; reset for a full catch-up");
            Ok(Some(bad))
        })
    }
}

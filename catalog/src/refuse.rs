//! Refusing an entry after the fact: its manifest blob failed the policy, does not match
//! the entry, or is not the size the entry signs. The entry was validly signed and
//! ingested, so it was the app's head for a moment; now it goes again.
//!
//! [`Catalog::refuse_entry`] removes the entry and everything that only it brought in
//! (its sources, artifact links, blob index rows, the app if it had no other entry, the
//! publisher if nothing else names it) and keeps one bounded audit row, keyed by the
//! payload id: [`crate::Catalog::ingest`] answers `Refused` for those bytes from then on,
//! so the entry is neither stored nor fetched again. If it was the head, the highest
//! remaining entry of the app becomes the head again (the publisher's previous version):
//! a refused entry does not count for the sequence rules, so its sequence is free for the
//! publisher's next, good entry.

use atoll_registry::{Entry, Hash, Verified};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::audit::{self, AuditKind};
use crate::error::CatalogError;
use crate::ingest::decode_hash;
use crate::provenance::Provenance;
use crate::search;
use crate::signed::envelope_bytes;
use crate::store::{now, to_i64, Catalog};

/// What [`Catalog::refuse_entry`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedEntry {
    /// The refusal was recorded now (false: these bytes had been refused before).
    pub recorded: bool,
    /// The entry was in the catalog and has been removed.
    pub removed: bool,
    /// The app had no other entry and has been removed too.
    pub app_removed: bool,
    /// Payload id of the app's head now, when the refused entry was the head and an
    /// earlier entry of the app remains.
    pub new_head: Option<Hash>,
    /// Blobs that no remaining entry names: the node may drop their bytes.
    pub orphaned: Vec<Hash>,
}

impl Catalog {
    /// Refuse a stored entry because of its blobs, atomically: remove it and what only it
    /// brought in, restore the app's previous head, and record one bounded audit row
    /// (reason, source, the signed entry as evidence) under the entry's payload id.
    pub fn refuse_entry(
        &mut self,
        entry: &Verified<Entry>,
        provenance: &Provenance,
        reason: &str,
    ) -> Result<RefusedEntry, CatalogError> {
        let now = now();
        self.write(|tx| refuse_in(tx, entry, provenance, reason, now))
    }
}

fn refuse_in(
    tx: &Connection,
    entry: &Verified<Entry>,
    provenance: &Provenance,
    reason: &str,
    now: u64,
) -> Result<RefusedEntry, CatalogError> {
    let payload_id = entry.payload_id();
    let key = audit::refused_entry_key(&payload_id);
    let recorded = audit::record_in(
        tx,
        now,
        audit::Record {
            kind: AuditKind::RefusedEntry,
            provenance,
            key: Some(&key),
            subject: Some(&entry.app_ref().to_string()),
            reason,
            payload: Some(&envelope_bytes(entry)?),
        },
    )?
    .is_some();
    let mut out = RefusedEntry {
        recorded,
        removed: false,
        app_removed: false,
        new_head: None,
        orphaned: Vec::new(),
    };
    let row: Option<(i64, i64, String, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT id, app_id, status, manifest_hash FROM entries WHERE payload_id = ?1",
        )?
        .query_row([payload_id.as_bytes()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((entry_id, app_id, status, manifest)) = row else {
        return Ok(out);
    };
    let mut blobs: Vec<Vec<u8>> = tx
        .prepare_cached("SELECT hash FROM entry_artifacts WHERE entry_id = ?1")?
        .query_map([entry_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    blobs.push(manifest);
    tx.prepare_cached("DELETE FROM entry_sources WHERE entry_id = ?1")?
        .execute([entry_id])?;
    tx.prepare_cached("DELETE FROM entry_artifacts WHERE entry_id = ?1")?
        .execute([entry_id])?;
    tx.prepare_cached("DELETE FROM entries WHERE id = ?1")?
        .execute([entry_id])?;
    out.removed = true;
    for hash in blobs {
        let named: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM entries WHERE manifest_hash = ?1)
                     OR EXISTS (SELECT 1 FROM entry_artifacts WHERE hash = ?1)",
            )?
            .query_row([&hash], |r| r.get(0))?;
        if !named {
            tx.prepare_cached("DELETE FROM blob_holders WHERE hash = ?1")?
                .execute([&hash])?;
            let gone = tx
                .prepare_cached("DELETE FROM blobs WHERE hash = ?1")?
                .execute([&hash])?;
            let hash = decode_hash(hash)?;
            if gone > 0 && !out.orphaned.contains(&hash) {
                out.orphaned.push(hash);
            }
        }
    }
    if status == "head" {
        // The publisher's previous version: the highest remaining sequence (a copy that
        // lost an equivocation counts only if nothing else has that sequence).
        let next: Option<(i64, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT id, payload_id FROM entries WHERE app_id = ?1 AND void IS NULL
                 ORDER BY sequence DESC, status = 'conflict', from_origin DESC, id LIMIT 1",
            )?
            .query_row([app_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match next {
            Some((id, payload)) => {
                tx.prepare_cached("UPDATE entries SET status = 'head' WHERE id = ?1")?
                    .execute([id])?;
                tx.prepare_cached(
                    "UPDATE apps SET head_entry_id = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![app_id, id, to_i64(now)])?;
                out.new_head = Some(decode_hash(payload)?);
            }
            None => {
                tx.prepare_cached("UPDATE apps SET head_entry_id = NULL WHERE id = ?1")?
                    .execute([app_id])?;
            }
        }
    }
    let remaining: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM entries WHERE app_id = ?1)")?
        .query_row([app_id], |r| r.get(0))?;
    let installed: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM installed WHERE app_id = ?1)")?
        .query_row([app_id], |r| r.get(0))?;
    if remaining || installed {
        search::reindex_app(tx, app_id, false)?;
    } else {
        remove_app(tx, app_id)?;
        out.app_removed = true;
    }
    tracing::info!(
        app = %entry.app_ref(),
        sequence = entry.sequence,
        app_removed = out.app_removed,
        "entry refused and removed"
    );
    Ok(out)
}

/// Remove an app without entries, and its publisher if nothing else names it.
fn remove_app(tx: &Connection, app_id: i64) -> Result<(), CatalogError> {
    let publisher: i64 = tx
        .prepare_cached("SELECT publisher_id FROM apps WHERE id = ?1")?
        .query_row([app_id], |r| r.get(0))?;
    tx.prepare_cached("DELETE FROM app_categories WHERE app_id = ?1")?
        .execute([app_id])?;
    tx.prepare_cached("DELETE FROM app_search WHERE rowid = ?1")?
        .execute([app_id])?;
    tx.prepare_cached("DELETE FROM apps WHERE id = ?1")?
        .execute([app_id])?;
    let named: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM publishers WHERE id = ?1 AND profile_sequence IS NOT NULL)
                 OR EXISTS (SELECT 1 FROM apps WHERE publisher_id = ?1)
                 OR EXISTS (SELECT 1 FROM publisher_keys WHERE publisher_id = ?1)
                 OR EXISTS (SELECT 1 FROM endorsements WHERE signer_id = ?1 OR subject_id = ?1)
                 OR EXISTS (SELECT 1 FROM anchors WHERE publisher_id = ?1)
                 OR EXISTS (SELECT 1 FROM blocks WHERE publisher_id = ?1)
                 OR EXISTS (SELECT 1 FROM penalties WHERE publisher_id = ?1)
                 OR EXISTS (SELECT 1 FROM trust_scores WHERE parent_id = ?1 OR anchor_id = ?1)",
        )?
        .query_row([publisher], |r| r.get(0))?;
    if !named {
        tx.prepare_cached("DELETE FROM trust_scores WHERE publisher_id = ?1")?
            .execute([publisher])?;
        tx.prepare_cached("DELETE FROM publishers WHERE id = ?1")?
            .execute([publisher])?;
    }
    Ok(())
}

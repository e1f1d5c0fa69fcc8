//! The audit log: every input the node refused, with the reason and where it came from.
//!
//! Bounded and deduplicated:
//!
//! * one row per refused input: a row may carry a [`key`] naming the input (a Nostr event
//!   id, a signed payload, a blob from one source); the same key is recorded once, however
//!   often the input is delivered again;
//! * bounded rows: reason [`MAX_REASON_CHARS`], subject [`MAX_SUBJECT_CHARS`], source
//!   [`MAX_SOURCE_CHARS`], evidence [`MAX_EVIDENCE_BYTES`];
//! * a rotating log: the newest [`MAX_AUDIT_ROWS`] rows are kept, and only the newest
//!   [`MAX_EVIDENCE_ROWS`] of them keep their evidence bytes (the others keep the text), so
//!   the whole log stays under about 32 MiB.

use atoll_registry::{Did, Hash};
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::CatalogError;
use crate::provenance::Provenance;
use crate::store::{now, publisher_id, to_i64, Catalog};
use crate::trust::{self, PenaltyKind};

/// Most bytes of a rejected object kept as evidence.
pub const MAX_EVIDENCE_BYTES: usize = 64 * 1024;
/// Rows kept: older ones are deleted as new ones arrive.
pub const MAX_AUDIT_ROWS: i64 = 10_000;
/// Rows that keep their evidence bytes (the newest ones); older rows keep the text only.
pub const MAX_EVIDENCE_ROWS: i64 = 256;
/// Longest subject kept, in characters.
pub const MAX_SUBJECT_CHARS: usize = 256;

pub use atoll_registry::audit::{key, refused_entry_key, MAX_REASON_CHARS, MAX_SOURCE_CHARS};

/// Why an input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditKind {
    /// A lower sequence than the stored head (rule 2).
    Rollback,
    /// Two different signed objects with one sequence (rule 3).
    Equivocation,
    /// A signature that does not verify, or a missing authority signature.
    BadSignature,
    /// Malformed, oversized or schema-invalid input.
    Invalid,
    /// Blob bytes whose BLAKE3 does not match the winning entry (rule 4).
    BlobMismatch,
    /// An entry refused for its manifest (policy, mismatch, size): removed from the
    /// catalog, remembered by its payload id so that it is not fetched again.
    RefusedEntry,
    /// A relay cursor found ahead of the clock and reset.
    CursorReset,
    /// Not a refused input: the operator overrode an install/update guard
    /// ([`crate::guard`]); the row says who, which app and version, which guard, and the
    /// operator's note.
    Override,
    /// A key rotation refused (commitment mismatch, gap, fork, reused key).
    RotationRefused,
    /// An object signed by a key the identity's key state does not allow (a retired key
    /// after its last legitimate sequence, a key that is not the identity's), or a
    /// profile that tried to change the key commitment.
    KeyRefused,
}

crate::stored::stored_names!(AuditKind, "audit kind", {
    Rollback => "rollback",
    Equivocation => "equivocation",
    BadSignature => "bad-signature",
    Invalid => "invalid",
    BlobMismatch => "blob-mismatch",
    RefusedEntry => "refused-entry",
    CursorReset => "cursor-reset",
    Override => "override",
    RotationRefused => "rotation-refused",
    KeyRefused => "key-refused",
});

/// A refused input, as reported by the sync pipeline (the catalog itself records
/// rollbacks and equivocations).
#[derive(Debug, Clone)]
pub struct AuditInput<'a> {
    /// Why.
    pub kind: AuditKind,
    /// Where it came from.
    pub provenance: &'a Provenance,
    /// Names the input (see [`key`]): a second rejection with the same key is not recorded.
    /// `None` records every time.
    pub key: Option<Hash>,
    /// The DID or app ref it claimed to be about, if any.
    pub subject: Option<String>,
    /// The reason in words (e.g. the verification error).
    pub reason: String,
    /// The offending bytes (truncated to [`MAX_EVIDENCE_BYTES`]).
    pub payload: Option<&'a [u8]>,
    /// Set only when the failure is provably the DID's own doing, for example bytes served
    /// by the DID's own origin or carried by a Nostr key its signed profile binds. It then
    /// counts as a `forged` penalty against that DID. Never set it for a bad signature
    /// that merely *claims* a DID: anyone can forge those.
    pub attributed_to: Option<Did>,
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// Row id.
    pub id: i64,
    /// Unix seconds.
    pub at: u64,
    /// Why.
    pub kind: AuditKind,
    /// Where it came from.
    pub provenance: Option<Provenance>,
    /// What it was about.
    pub subject: Option<String>,
    /// The reason in words.
    pub reason: String,
    /// Bytes of evidence kept.
    pub evidence_bytes: usize,
}

impl Catalog {
    /// Record a refused input; penalise the DID it is attributed to, if any. Returns the
    /// new row's id, or `None` if an input with the same key was recorded before (then
    /// nothing changes).
    pub fn record_rejection(
        &mut self,
        rejection: &AuditInput<'_>,
    ) -> Result<Option<i64>, CatalogError> {
        let now = now();
        self.write(|tx| {
            let Some(id) = record_in(
                tx,
                now,
                Record {
                    kind: rejection.kind,
                    provenance: rejection.provenance,
                    key: rejection.key.as_ref(),
                    subject: rejection.subject.as_deref(),
                    reason: &rejection.reason,
                    payload: rejection.payload,
                },
            )?
            else {
                return Ok(None);
            };
            if let Some(did) = &rejection.attributed_to {
                let publisher = publisher_id(tx, did, now)?;
                let incident = match rejection.payload {
                    Some(p) => atoll_registry::Hash::of(p).to_hex(),
                    None => format!("audit-{id}"),
                };
                trust::penalize_in(
                    tx,
                    publisher,
                    PenaltyKind::Forged,
                    &incident,
                    &format!(
                        "{} from {}: {}",
                        rejection.kind.as_str(),
                        rejection.provenance,
                        rejection.reason
                    ),
                    now,
                )?;
            }
            Ok(Some(id))
        })
    }

    /// Record that `who` (e.g. `api`, a remote admin key) overrode the `refusal` guard to
    /// `action` (`install`, `update`) `app` at `version`, with the operator's `note`.
    /// Every override is a row of its own. Returns the row id.
    pub fn record_override(
        &mut self,
        who: &str,
        action: &str,
        app: &atoll_registry::AppRef,
        version: &str,
        refusal: crate::guard::Refusal,
        note: Option<&str>,
    ) -> Result<i64, CatalogError> {
        let reason = match note {
            Some(n) if !n.is_empty() => format!(
                "{action} {app} {version}: guard {} overridden; note: {n}",
                refusal.code()
            ),
            _ => format!(
                "{action} {app} {version}: guard {} overridden (no note)",
                refusal.code()
            ),
        };
        let provenance = Provenance::Local(who.to_owned());
        let subject = app.to_string();
        let now = now();
        self.write(|tx| {
            record_in(
                tx,
                now,
                Record {
                    kind: AuditKind::Override,
                    provenance: &provenance,
                    key: None,
                    subject: Some(&subject),
                    reason: &reason,
                    payload: None,
                },
            )
            .map(|id| id.unwrap_or_default())
        })
    }

    /// Rows in the audit log (at most [`MAX_AUDIT_ROWS`]).
    pub fn audit_len(&self) -> Result<u64, CatalogError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    }

    /// Is an input with this key in the audit log?
    pub fn audit_has(&self, key: &Hash) -> Result<bool, CatalogError> {
        has_key(&self.conn, key)
    }

    /// The newest `limit` audit records, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>, CatalogError> {
        self.audit_log_of(None, limit)
    }

    /// The newest `limit` audit records of `kind` (every kind if `None`), newest first.
    pub fn audit_log_of(
        &self,
        kind: Option<AuditKind>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, kind, source_kind, source, subject, reason, length(payload)
             FROM audit WHERE ?2 IS NULL OR kind = ?2 ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit, kind.map(AuditKind::as_str)], |r| {
            Ok(AuditRecord {
                id: r.get(0)?,
                at: r.get::<_, i64>(1)?.max(0) as u64,
                kind: r.get(2)?,
                provenance: Provenance::from_parts(&r.get::<_, String>(3)?, r.get(4)?),
                subject: r.get(5)?,
                reason: r.get(6)?,
                evidence_bytes: r.get::<_, Option<i64>>(7)?.unwrap_or(0).max(0) as usize,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// One row to write.
pub(crate) struct Record<'a> {
    pub kind: AuditKind,
    pub provenance: &'a Provenance,
    pub key: Option<&'a Hash>,
    pub subject: Option<&'a str>,
    pub reason: &'a str,
    pub payload: Option<&'a [u8]>,
}

/// Is this key recorded?
pub(crate) fn has_key(conn: &rusqlite::Connection, key: &Hash) -> Result<bool, CatalogError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM audit WHERE key = ?1)")?
        .query_row([key.as_bytes()], |r| r.get(0))?)
}

/// Write one bounded row, unless its key is recorded already (`None` then), and rotate:
/// rows older than the newest [`MAX_AUDIT_ROWS`] are deleted, evidence older than the
/// newest [`MAX_EVIDENCE_ROWS`] rows with evidence is dropped.
pub(crate) fn record_in(
    tx: &Connection,
    now: u64,
    rec: Record<'_>,
) -> Result<Option<i64>, CatalogError> {
    let payload = rec.payload.map(|p| &p[..p.len().min(MAX_EVIDENCE_BYTES)]);
    let bound = |s: &str, n: usize| -> String { s.chars().take(n).collect() };
    let inserted = tx
        .prepare_cached(
            "INSERT INTO audit (at, kind, source_kind, source, subject, reason, payload, key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (key) WHERE key IS NOT NULL DO NOTHING",
        )?
        .execute(params![
            to_i64(now),
            rec.kind.as_str(),
            rec.provenance.kind(),
            bound(rec.provenance.source(), MAX_SOURCE_CHARS),
            rec.subject.map(|s| bound(s, MAX_SUBJECT_CHARS)),
            bound(rec.reason, MAX_REASON_CHARS),
            payload,
            rec.key.map(|k| k.as_bytes().to_vec()),
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = tx.last_insert_rowid();
    tx.prepare_cached("DELETE FROM audit WHERE id <= ?1")?
        .execute([id - MAX_AUDIT_ROWS])?;
    if payload.is_some() {
        tx.prepare_cached(
            "UPDATE audit SET payload = NULL WHERE payload IS NOT NULL AND id <= (
                 SELECT id FROM audit WHERE payload IS NOT NULL ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        )?
        .execute([MAX_EVIDENCE_ROWS])?;
    }
    Ok(Some(id))
}

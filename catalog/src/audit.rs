//! The audit log: every input the node refused, with the reason and where it came from.

use atoll_registry::Did;
use rusqlite::{params, Transaction};
use serde::Serialize;

use crate::error::CatalogError;
use crate::provenance::Provenance;
use crate::store::{now, publisher_id, to_i64, Catalog};
use crate::trust::{self, PenaltyKind};

/// Most bytes of a rejected object kept as evidence.
pub const MAX_EVIDENCE_BYTES: usize = 64 * 1024;

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
}

impl AuditKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rollback => "rollback",
            Self::Equivocation => "equivocation",
            Self::BadSignature => "bad-signature",
            Self::Invalid => "invalid",
            Self::BlobMismatch => "blob-mismatch",
        }
    }
}

/// A refused input, as reported by the sync pipeline (the catalog itself records
/// rollbacks and equivocations).
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    /// Why.
    pub kind: AuditKind,
    /// Where it came from.
    pub provenance: &'a Provenance,
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
    /// Why (see [`AuditKind::as_str`]).
    pub kind: String,
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
    /// Record a refused input; penalise the DID it is attributed to, if any.
    pub fn record_rejection(&mut self, rejection: &Rejection<'_>) -> Result<i64, CatalogError> {
        let now = now();
        self.write(|tx| {
            let id = record_in(
                tx,
                now,
                rejection.kind,
                rejection.provenance,
                rejection.subject.as_deref(),
                &rejection.reason,
                rejection.payload,
            )?;
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
            Ok(id)
        })
    }

    /// The newest `limit` audit records, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, kind, source_kind, source, subject, reason, length(payload)
             FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
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

pub(crate) fn record_in(
    tx: &Transaction<'_>,
    now: u64,
    kind: AuditKind,
    provenance: &Provenance,
    subject: Option<&str>,
    reason: &str,
    payload: Option<&[u8]>,
) -> Result<i64, CatalogError> {
    let payload = payload.map(|p| &p[..p.len().min(MAX_EVIDENCE_BYTES)]);
    let reason: String = reason.chars().take(2048).collect();
    tx.prepare_cached(
        "INSERT INTO audit (at, kind, source_kind, source, subject, reason, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        to_i64(now),
        kind.as_str(),
        provenance.kind(),
        provenance.source(),
        subject,
        reason,
        payload
    ])?;
    Ok(tx.last_insert_rowid())
}

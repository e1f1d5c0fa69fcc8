//! Publisher profiles and endorsements: signed objects where the highest sequence per
//! authority (and subject) wins, with the same rollback and equivocation rules as entries.

use atoll_registry::rotation::Signed;
use atoll_registry::{Endorsement, PublisherProfile, Verified};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::audit::{self, AuditKind};
use crate::error::{CatalogError, Stored};
use crate::ingest::decode_hash;
use crate::provenance::Provenance;
use crate::rotation;
use crate::search;
use crate::signed::envelope_bytes;
use crate::store::{find_publisher, now, publisher_id, to_i64, Catalog};
use crate::trust::{self, PenaltyKind};

/// What happened to a profile or endorsement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UpdateOutcome {
    /// First one seen; stored.
    New,
    /// Higher sequence; replaced the stored one.
    Newer {
        /// The replaced sequence.
        previous: u64,
    },
    /// The same signed bytes again.
    Duplicate,
    /// Lower sequence: rejected, recorded in the audit log.
    Rollback {
        /// The stored sequence.
        current: u64,
    },
    /// Same sequence, different content: kept the stored one, penalised the signer.
    Equivocation,
    /// An endorsement of a new subject from a signer that already has
    /// [`MAX_ENDORSEMENTS_PER_SIGNER`] stored: refused, recorded in the audit log.
    OverLimit {
        /// The cap.
        max: u32,
    },
    /// Refused for its signing key (a retired key after its last legitimate sequence, a
    /// key that is not the identity's) or, for a profile, because it changes the key
    /// commitment outside a rotation: recorded in the audit log.
    KeyRefused,
}

/// Most subjects one signer's endorsements and reports are stored for. A signer's newer
/// endorsement of a subject it already has replaces the old one (one row per signer and
/// subject), so re-signing thousands of sequences adds nothing; only new subjects past
/// the cap are refused. This bounds what one DID can add to every trust recompute.
pub const MAX_ENDORSEMENTS_PER_SIGNER: u32 = 1000;

/// The stored (sequence, payload id) against an incoming one.
fn decide(
    stored: Option<(i64, Vec<u8>)>,
    sequence: u64,
    payload_id: &atoll_registry::Hash,
) -> Result<UpdateOutcome, CatalogError> {
    let Some((seq, pid)) = stored else {
        return Ok(UpdateOutcome::New);
    };
    let seq = seq.max(0) as u64;
    let pid = decode_hash(pid)?;
    Ok(if pid == *payload_id {
        UpdateOutcome::Duplicate
    } else if sequence > seq {
        UpdateOutcome::Newer { previous: seq }
    } else if sequence == seq {
        UpdateOutcome::Equivocation
    } else {
        UpdateOutcome::Rollback { current: seq }
    })
}

#[allow(clippy::too_many_arguments)] // one call site per object kind; a struct would only rename them
fn refuse<T>(
    tx: &Connection,
    outcome: UpdateOutcome,
    signer: i64,
    what: &str,
    v: &Verified<T>,
    sequence: u64,
    provenance: &Provenance,
    now: u64,
) -> Result<(), CatalogError> {
    let (kind, reason) = match outcome {
        UpdateOutcome::Rollback { current } => (
            AuditKind::Rollback,
            format!("{what}: sequence {sequence} is lower than the stored {current}"),
        ),
        UpdateOutcome::OverLimit { max } => (
            AuditKind::Invalid,
            format!("{what}: the signer already has {max} subjects stored, the most one signer may have"),
        ),
        UpdateOutcome::Equivocation => {
            let detail = format!("signed two different {what}s with sequence {sequence}");
            trust::penalize_in(
                tx,
                signer,
                PenaltyKind::Equivocation,
                &format!("{what}#{sequence}"),
                &detail,
                now,
            )?;
            (AuditKind::Equivocation, detail)
        }
        _ => return Ok(()),
    };
    // Once per signed object: the same one delivered again adds no row.
    let key = audit::key(kind.as_str(), &[v.payload_id().as_bytes()]);
    audit::record_in(
        tx,
        now,
        audit::Record {
            kind,
            provenance,
            key: Some(&key),
            subject: Some(what),
            reason: &reason,
            payload: Some(&envelope_bytes(v)?),
        },
    )?;
    Ok(())
}

impl Catalog {
    /// Store a verified publisher profile (display name, bound Nostr keys and iroh nodes).
    pub fn ingest_profile(
        &mut self,
        profile: &Verified<PublisherProfile>,
        provenance: &Provenance,
    ) -> Result<UpdateOutcome, CatalogError> {
        let now = now();
        self.write(|tx| {
            let id = publisher_id(tx, &profile.did, now)?;
            let signer = *profile.signer();
            let allowed = rotation::signer_allowed(
                tx,
                id,
                &profile.did,
                &signer,
                Signed::Profile(profile.sequence),
            )?;
            if let Err(refusal) = allowed {
                rotation::refuse_signer(tx, "profile", profile, &refusal, provenance, now)?;
                return Ok(UpdateOutcome::KeyRefused);
            }
            // A retired key's (older, legitimate) profile does not set the commitment.
            let current = rotation::signer_allowed(tx, id, &profile.did, &signer, Signed::Other)?;
            if current.is_ok()
                && !rotation::check_profile_commitment(
                    tx,
                    id,
                    &profile.did,
                    profile.next_key.as_deref(),
                    profile,
                    provenance,
                    now,
                )?
            {
                return Ok(UpdateOutcome::KeyRefused);
            }
            let stored = tx
                .query_row(
                    "SELECT profile_sequence, profile_payload_id FROM publishers
                     WHERE id = ?1 AND profile_sequence IS NOT NULL",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let outcome = decide(stored, profile.sequence, &profile.payload_id())?;
            match outcome {
                UpdateOutcome::New | UpdateOutcome::Newer { .. } => {
                    tx.execute(
                        "UPDATE publishers SET name = ?2, profile_sequence = ?3, profile_payload_id = ?4,
                             profile_envelope = ?5, profile_signer = ?6 WHERE id = ?1",
                        params![
                            id,
                            profile.name,
                            to_i64(profile.sequence),
                            profile.payload_id().as_bytes(),
                            envelope_bytes(profile)?,
                            rotation::signer_column(&profile.did, &signer),
                        ],
                    )?;
                    tx.execute("DELETE FROM publisher_keys WHERE publisher_id = ?1", [id])?;
                    let mut add = tx.prepare(
                        "INSERT OR IGNORE INTO publisher_keys (publisher_id, kind, key) VALUES (?1, ?2, ?3)",
                    )?;
                    for k in &profile.nostr_keys {
                        add.execute(params![id, "nostr", k])?;
                    }
                    for k in &profile.iroh_nodes {
                        add.execute(params![id, "iroh", k])?;
                    }
                    crate::relays::store_publisher_relays(tx, id, &profile.relays)?;
                    search::reindex_publisher(tx, id)?;
                }
                other => refuse(tx, other, id, "profile", profile, profile.sequence, provenance, now)?,
            }
            Ok(outcome)
        })
    }

    /// Store a verified endorsement (or report, when its weight is negative). Scores
    /// change at the next [`Catalog::recompute_trust`].
    pub fn ingest_endorsement(
        &mut self,
        endorsement: &Verified<Endorsement>,
        provenance: &Provenance,
    ) -> Result<UpdateOutcome, CatalogError> {
        let now = now();
        self.write(|tx| ingest_endorsement_in(tx, endorsement, provenance, now))
    }

    /// Store many endorsements in one transaction.
    pub fn ingest_endorsements(
        &mut self,
        endorsements: &[Verified<Endorsement>],
        provenance: &Provenance,
    ) -> Result<Vec<UpdateOutcome>, CatalogError> {
        let now = now();
        self.write(|tx| {
            endorsements
                .iter()
                .map(|e| ingest_endorsement_in(tx, e, provenance, now))
                .collect()
        })
    }

    /// DIDs whose signed profile binds this Nostr public key (hex).
    pub fn dids_for_nostr_key(&self, key: &str) -> Result<Vec<atoll_registry::Did>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.did FROM publisher_keys k JOIN publishers p ON p.id = k.publisher_id
             WHERE k.kind = 'nostr' AND k.key = ?1",
        )?;
        let rows = stmt.query_map([key], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for d in rows {
            out.push(
                d?.parse()
                    .map_err(|e| CatalogError::decode(Stored::Did, e))?,
            );
        }
        Ok(out)
    }
}

fn ingest_endorsement_in(
    tx: &Connection,
    e: &Verified<Endorsement>,
    provenance: &Provenance,
    now: u64,
) -> Result<UpdateOutcome, CatalogError> {
    let signer = publisher_id(tx, &e.signer, now)?;
    let allowed = rotation::signer_allowed(
        tx,
        signer,
        &e.signer,
        e.signer(),
        Signed::Endorsement(&e.subject, e.sequence),
    )?;
    if let Err(refusal) = allowed {
        rotation::refuse_signer(tx, "endorsement", e, &refusal, provenance, now)?;
        return Ok(UpdateOutcome::KeyRefused);
    }
    // The subject's row is made only for an endorsement that is stored.
    let stored = match find_publisher(tx, &e.subject)? {
        Some(subject) => tx
            .prepare_cached("SELECT sequence, payload_id FROM endorsements WHERE signer_id = ?1 AND subject_id = ?2")?
            .query_row([signer, subject], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
        None => None,
    };
    let mut outcome = decide(stored, e.sequence, &e.payload_id())?;
    if outcome == UpdateOutcome::New {
        let given: u32 = tx
            .prepare_cached("SELECT count(*) FROM endorsements WHERE signer_id = ?1")?
            .query_row([signer], |r| r.get(0))?;
        if given >= MAX_ENDORSEMENTS_PER_SIGNER {
            outcome = UpdateOutcome::OverLimit {
                max: MAX_ENDORSEMENTS_PER_SIGNER,
            };
        }
    }
    match outcome {
        UpdateOutcome::New | UpdateOutcome::Newer { .. } => {
            let subject = publisher_id(tx, &e.subject, now)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO endorsements
                     (signer_id, subject_id, weight, reason, sequence, created_at, payload_id, envelope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                signer,
                subject,
                e.weight,
                e.reason,
                to_i64(e.sequence),
                to_i64(e.created_at),
                e.payload_id().as_bytes(),
                envelope_bytes(e)?
            ])?;
        }
        other => refuse(
            tx,
            other,
            signer,
            "endorsement",
            e,
            e.sequence,
            provenance,
            now,
        )?,
    }
    Ok(outcome)
}

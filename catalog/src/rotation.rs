//! Key state: the inception commitment and the accepted rotations of each identity
//! (docs/design.md, "Key rotation"), applied with the pure rules of
//! [`atoll_registry::rotation`].
//!
//! * [`Catalog::ingest_rotation`] accepts or refuses an `atoll/rotation/v1`; accepting
//!   rotation n voids what the retired key k_{n−1} signed beyond the rotation's `last`:
//!   entries (kept, marked void, never a head: the head falls back to the newest valid
//!   entry), the stored profile and endorsements (removed). What was voided is recorded
//!   with the rotation and shown by [`Catalog::key_history`].
//! * Every entry, profile and endorsement the catalog stores passes
//!   [`atoll_registry::KeyState::may_sign`] for its signer ([`signer_allowed`]).

use atoll_registry::objects::LastSigned;
use atoll_registry::rotation::{
    AcceptedRotation, RotationDecision, RotationRefusal, Signed, SignerRefusal,
};
use atoll_registry::{Did, Envelope, Hash, KeyState, Rotation, Verified};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditKind};
use crate::error::{CatalogError, Stored};
use crate::ingest::decode_hash;
use crate::provenance::Provenance;
use crate::search;
use crate::signed::envelope_bytes;
use crate::store::{find_publisher, now, publisher_id, to_i64, Catalog};

/// Something accepting a rotation voided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voided {
    /// `entry`, `profile` or `endorsement`.
    pub kind: String,
    /// The app id (entries) or subject DID (endorsements); empty for a profile.
    pub subject: String,
    /// Its sequence.
    pub sequence: u64,
    /// Its payload id (hex).
    pub payload_id: String,
    /// Why, in words: "signed by retired key 0 after its last legitimate sequence 5".
    pub reason: String,
}

/// What [`Catalog::ingest_rotation`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RotationOutcome {
    /// Accepted: its key is the identity's current key now.
    Accepted {
        /// The rotation's n.
        index: u64,
        /// What the retired key had signed beyond the rotation's `last`.
        voided: Vec<Voided>,
        /// Payload ids of entries that are an app's head again (their app's head was void).
        new_heads: Vec<Hash>,
    },
    /// The same signed rotation again.
    Duplicate,
    /// Refused (recorded in the audit log; a gap is to be tried again later).
    Refused {
        /// Why.
        refusal: RotationRefusal,
    },
}

/// One accepted rotation, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationRecord {
    /// n.
    pub index: u64,
    /// k_n.
    pub key: Did,
    /// The commitment to k_{n+1}.
    pub next_key: String,
    /// What k_{n−1} signed legitimately.
    pub last: LastSigned,
    /// What accepting it voided.
    pub voided: Vec<Voided>,
    /// Unix seconds, as signed.
    pub created_at: u64,
    /// Unix seconds, when this node accepted it.
    pub accepted_at: u64,
}

/// An identity's key history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyHistory {
    /// The identity (k0).
    pub did: Did,
    /// The current index.
    pub index: u64,
    /// The key that signs now.
    pub current_key: Did,
    /// The commitment to the next key, if known.
    pub next_key: Option<String>,
    /// Why the identity is flagged (a profile tried to change the commitment), if it is.
    pub flagged: Option<String>,
    /// Accepted rotations, oldest first.
    pub rotations: Vec<RotationRecord>,
}

impl Catalog {
    /// Accept or refuse a verified rotation, atomically (see the module docs).
    pub fn ingest_rotation(
        &mut self,
        rotation: &Verified<Rotation>,
        provenance: &Provenance,
    ) -> Result<RotationOutcome, CatalogError> {
        let now = now();
        self.write(|tx| ingest_rotation_in(tx, rotation, provenance, now))
    }

    /// The key history of an identity: `None` if it never committed nor rotated.
    pub fn key_history(&self, did: &Did) -> Result<Option<KeyHistory>, CatalogError> {
        let Some(id) = find_publisher(&self.conn, did)? else {
            return Ok(None);
        };
        let state = load_state(&self.conn, id, did)?;
        let flagged: Option<String> = self
            .conn
            .prepare_cached("SELECT flagged FROM key_commitments WHERE publisher_id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .flatten();
        if state.inception.is_none() && state.rotations.is_empty() && flagged.is_none() {
            return Ok(None);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, voided, created_at, accepted_at FROM key_rotations
             WHERE publisher_id = ?1 ORDER BY idx",
        )?;
        let extra = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut rotations = Vec::with_capacity(state.rotations.len());
        for (r, (_, voided, created, accepted)) in state.rotations.iter().zip(extra) {
            rotations.push(RotationRecord {
                index: r.index,
                key: r.key,
                next_key: r.next_key.clone(),
                last: r.last.clone(),
                voided: serde_json::from_str(&voided)
                    .map_err(|e| CatalogError::decode(Stored::Rotation, e))?,
                created_at: created.max(0) as u64,
                accepted_at: accepted.max(0) as u64,
            });
        }
        Ok(Some(KeyHistory {
            did: *did,
            index: state.index(),
            current_key: state.current_key(),
            next_key: state.commitment().map(str::to_owned),
            flagged,
            rotations,
        }))
    }
}

/// The key state of publisher row `id` (DID `did`).
pub(crate) fn load_state(tx: &Connection, id: i64, did: &Did) -> Result<KeyState, CatalogError> {
    let mut state = KeyState::new(*did);
    state.inception = tx
        .prepare_cached("SELECT inception FROM key_commitments WHERE publisher_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten();
    let mut stmt = tx.prepare_cached(
        "SELECT idx, key, next_key, last, payload_id FROM key_rotations
         WHERE publisher_id = ?1 ORDER BY idx",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            decode_hash(r.get(4)?)?,
        ))
    })?;
    for row in rows {
        let (index, key, next_key, last, payload_id) = row?;
        state.rotations.push(AcceptedRotation {
            index: index.max(0) as u64,
            key: key
                .parse()
                .map_err(|e| CatalogError::decode(Stored::Did, e))?,
            next_key,
            last: serde_json::from_str(&last)
                .map_err(|e| CatalogError::decode(Stored::Rotation, e))?,
            payload_id,
        });
    }
    Ok(state)
}

/// May `signer` sign `what` for identity `did` (publisher row `id`)? A signer that is the
/// identity itself, of an identity that never rotated, needs no lookup.
pub(crate) fn signer_allowed(
    tx: &Connection,
    id: i64,
    did: &Did,
    signer: &Did,
    what: Signed<'_>,
) -> Result<Result<(), SignerRefusal>, CatalogError> {
    let rotated: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM key_rotations WHERE publisher_id = ?1)")?
        .query_row([id], |r| r.get(0))?;
    if !rotated && signer == did {
        return Ok(Ok(()));
    }
    Ok(load_state(tx, id, did)?.may_sign(signer, what))
}

/// The stored form of a signer: NULL for the identity's own key.
pub(crate) fn signer_column(did: &Did, signer: &Did) -> Option<String> {
    (signer != did).then(|| signer.to_string())
}

/// Record an object refused for its signer (once per payload).
pub(crate) fn refuse_signer<T>(
    tx: &Connection,
    what: &str,
    v: &Verified<T>,
    refusal: &SignerRefusal,
    provenance: &Provenance,
    now: u64,
) -> Result<(), CatalogError> {
    let key = audit::key(AuditKind::KeyRefused.as_str(), &[v.payload_id().as_bytes()]);
    audit::record_in(
        tx,
        now,
        audit::Record {
            kind: AuditKind::KeyRefused,
            provenance,
            key: Some(&key),
            subject: Some(what),
            reason: &format!("{what}: {refusal}"),
            payload: Some(&envelope_bytes(v)?),
        },
    )?;
    tracing::info!(%what, %refusal, "object refused for its signing key");
    Ok(())
}

/// A profile's `next_key` against the identity's commitment: the first one seen is the
/// inception commitment; a different one later is refused and flags the identity.
/// Returns whether the profile may be stored.
pub(crate) fn check_profile_commitment(
    tx: &Connection,
    id: i64,
    did: &Did,
    next_key: Option<&str>,
    v: &Verified<atoll_registry::PublisherProfile>,
    provenance: &Provenance,
    now: u64,
) -> Result<bool, CatalogError> {
    let Some(next_key) = next_key else {
        return Ok(true);
    };
    let state = load_state(tx, id, did)?;
    match state.commitment() {
        None if state.rotations.is_empty() => {
            tx.prepare_cached(
                "INSERT INTO key_commitments (publisher_id, inception) VALUES (?1, ?2)
                 ON CONFLICT (publisher_id) DO UPDATE SET inception = excluded.inception",
            )?
            .execute(params![id, next_key])?;
            Ok(true)
        }
        Some(c) if c == next_key => Ok(true),
        _ => {
            let reason = format!(
                "profile sequence {} changes the commitment to the next key of {did} (key index {}): the commitment can only change through a rotation; possible key compromise",
                v.sequence,
                state.index()
            );
            tx.prepare_cached(
                "INSERT INTO key_commitments (publisher_id, flagged, flagged_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (publisher_id) DO UPDATE SET flagged = excluded.flagged,
                     flagged_at = excluded.flagged_at",
            )?
            .execute(params![id, reason, to_i64(now)])?;
            let key = audit::key(AuditKind::KeyRefused.as_str(), &[v.payload_id().as_bytes()]);
            audit::record_in(
                tx,
                now,
                audit::Record {
                    kind: AuditKind::KeyRefused,
                    provenance,
                    key: Some(&key),
                    subject: Some(&did.to_string()),
                    reason: &reason,
                    payload: Some(&envelope_bytes(v)?),
                },
            )?;
            tracing::warn!(%did, "a profile tried to change the key commitment; identity flagged");
            Ok(false)
        }
    }
}

/// (entry id, app id, app, sequence, payload id, status) of an entry to check.
type EntryRow = (i64, i64, String, i64, Vec<u8>, String);
/// (subject id, subject DID, sequence, payload id, envelope) of an endorsement to check.
type EndorsementRow = (i64, String, i64, Vec<u8>, Vec<u8>);

fn ingest_rotation_in(
    tx: &Connection,
    rotation: &Verified<Rotation>,
    provenance: &Provenance,
    now: u64,
) -> Result<RotationOutcome, CatalogError> {
    let did = rotation.did;
    let id = publisher_id(tx, &did, now)?;
    let state = load_state(tx, id, &did)?;
    let payload_id = rotation.payload_id();
    match state.decide(rotation, &payload_id) {
        Ok(RotationDecision::Duplicate) => return Ok(RotationOutcome::Duplicate),
        Ok(RotationDecision::Accept) => {}
        Err(refusal) => {
            let key = audit::key(
                AuditKind::RotationRefused.as_str(),
                &[payload_id.as_bytes()],
            );
            audit::record_in(
                tx,
                now,
                audit::Record {
                    kind: AuditKind::RotationRefused,
                    provenance,
                    key: Some(&key),
                    subject: Some(&did.to_string()),
                    reason: &format!("[{}] {refusal}", refusal.code()),
                    payload: Some(&envelope_bytes(rotation)?),
                },
            )?;
            tracing::info!(%did, index = rotation.index, %refusal, "rotation refused");
            return Ok(RotationOutcome::Refused { refusal });
        }
    }
    let retired = state.current_key();
    let retired_index = state.index();
    let n = rotation.index;
    let last = &rotation.last;
    let reason = |last: Option<u64>| match last {
        Some(s) => {
            format!("signed by retired key {retired_index} after its last legitimate sequence {s}")
        }
        None => format!(
            "signed by retired key {retired_index}; rotation {n} names nothing it signed here"
        ),
    };
    let retired_col = signer_column(&did, &retired);
    let mut voided = Vec::new();

    // Entries.
    let rows: Vec<EntryRow> = tx
        .prepare_cached(
            "SELECT e.id, e.app_id, a.app, e.sequence, e.payload_id, e.status
             FROM entries e JOIN apps a ON a.id = e.app_id
             WHERE a.publisher_id = ?1 AND e.void IS NULL AND e.signer IS ?2",
        )?
        .query_map(params![id, retired_col], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut heads_lost = Vec::new();
    for (entry_id, app_id, app, seq, pid, status) in rows {
        let seq = seq.max(0) as u64;
        let allowed = app.parse().ok().and_then(|a| last.entries.get(&a).copied());
        if allowed.is_some_and(|max| seq <= max) {
            continue;
        }
        let why = reason(allowed);
        tx.prepare_cached("UPDATE entries SET void = ?2, status = 'superseded' WHERE id = ?1")?
            .execute(params![entry_id, why])?;
        if status == "head" && !heads_lost.contains(&app_id) {
            heads_lost.push(app_id);
        }
        voided.push(Voided {
            kind: "entry".into(),
            subject: app,
            sequence: seq,
            payload_id: decode_hash(pid)?.to_hex(),
            reason: why,
        });
    }
    let mut new_heads = Vec::new();
    for app_id in heads_lost {
        if let Some(head) = restore_head(tx, app_id, now)? {
            new_heads.push(head);
        }
        search::reindex_app(tx, app_id, false)?;
    }

    // The profile.
    let profile: Option<(Option<String>, i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT profile_signer, profile_sequence, profile_payload_id FROM publishers
             WHERE id = ?1 AND profile_sequence IS NOT NULL",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((signer, seq, pid)) = profile {
        let seq = seq.max(0) as u64;
        if signer == retired_col && last.profile.is_none_or(|max| seq > max) {
            let why = reason(last.profile);
            tx.prepare_cached(
                "UPDATE publishers SET profile_sequence = NULL, profile_payload_id = NULL,
                     profile_envelope = NULL, profile_signer = NULL WHERE id = ?1",
            )?
            .execute([id])?;
            tx.prepare_cached("DELETE FROM publisher_keys WHERE publisher_id = ?1")?
                .execute([id])?;
            crate::relays::store_publisher_relays(tx, id, &[])?;
            search::reindex_publisher(tx, id)?;
            voided.push(Voided {
                kind: "profile".into(),
                subject: String::new(),
                sequence: seq,
                payload_id: decode_hash(pid)?.to_hex(),
                reason: why,
            });
        }
    }

    // Endorsements (the signer is read from the stored envelope).
    let rows: Vec<EndorsementRow> = tx
        .prepare_cached(
            "SELECT e.subject_id, p.did, e.sequence, e.payload_id, e.envelope
             FROM endorsements e JOIN publishers p ON p.id = e.subject_id WHERE e.signer_id = ?1",
        )?
        .query_map([id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    for (subject_id, subject, seq, pid, envelope) in rows {
        let seq = seq.max(0) as u64;
        let by_retired = Envelope::from_slice(&envelope)
            .map(|e| e.signatures.iter().any(|s| s.did == retired))
            .unwrap_or(false);
        if !by_retired {
            continue;
        }
        let allowed = subject
            .parse::<Did>()
            .ok()
            .and_then(|s| last.endorsements.get(&s).copied());
        if allowed.is_some_and(|max| seq <= max) {
            continue;
        }
        tx.prepare_cached("DELETE FROM endorsements WHERE signer_id = ?1 AND subject_id = ?2")?
            .execute([id, subject_id])?;
        voided.push(Voided {
            kind: "endorsement".into(),
            subject,
            sequence: seq,
            payload_id: decode_hash(pid)?.to_hex(),
            reason: reason(allowed),
        });
    }

    tx.prepare_cached(
        "INSERT INTO key_rotations (publisher_id, idx, key, next_key, last, voided, payload_id,
             envelope, created_at, accepted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        to_i64(n),
        rotation.key.to_string(),
        rotation.next_key,
        serde_json::to_string(last).map_err(|e| CatalogError::decode(Stored::Rotation, e))?,
        serde_json::to_string(&voided).map_err(|e| CatalogError::decode(Stored::Rotation, e))?,
        payload_id.as_bytes(),
        envelope_bytes(rotation)?,
        to_i64(rotation.created_at),
        to_i64(now),
    ])?;
    tracing::info!(%did, index = n, voided = voided.len(), "key rotation accepted");
    Ok(RotationOutcome::Accepted {
        index: n,
        voided,
        new_heads,
    })
}

/// The app's head was voided: the newest valid entry is the head again (a copy that lost
/// an equivocation only if nothing else has that sequence), or none.
fn restore_head(tx: &Connection, app_id: i64, now: u64) -> Result<Option<Hash>, CatalogError> {
    let next: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT id, payload_id FROM entries WHERE app_id = ?1 AND void IS NULL
             ORDER BY sequence DESC, status = 'conflict', from_origin DESC, id LIMIT 1",
        )?
        .query_row([app_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let head = next.as_ref().map(|(id, _)| *id);
    if let Some(id) = head {
        tx.prepare_cached("UPDATE entries SET status = 'head' WHERE id = ?1")?
            .execute([id])?;
    }
    tx.prepare_cached("UPDATE apps SET head_entry_id = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![app_id, head, to_i64(now)])?;
    next.map(|(_, pid)| decode_hash(pid))
        .transpose()
        .map_err(Into::into)
}

//! `ingest`: the origin-wins rules of DESIGN.md, applied to one verified entry inside one
//! write transaction.
//!
//! | stored state for `<did>/<app>`            | incoming entry                       | outcome |
//! |-------------------------------------------|--------------------------------------|---------|
//! | the same signed payload (same payload id) | any source                           | `Duplicate` (source recorded; an origin copy of a losing conflict wins now) |
//! | nothing                                   | any                                  | `New` (or `Stale` / `Yanked`) |
//! | head with a lower sequence                | higher sequence                      | `Newer` (or `Stale` / `Yanked`) |
//! | head with the same sequence               | different payload                    | `Equivocation`: keep the origin's copy, else the first seen |
//! | an entry with that (lower) sequence       | different payload                    | `Equivocation`: evidence kept, head unchanged |
//! | head with a higher sequence               | a sequence never seen                | `Rollback`: rejected, recorded in the audit log (once per payload) |
//! | nothing: the payload was refused for its manifest | any                          | `Refused`: nothing stored ([`Catalog::refuse_entry`]) |
//! | any                                       | signed by a key the key state refuses | `KeyRefused`: nothing stored, audited ([`crate::rotation`]) |
//!
//! Rule 1 (only the publisher's signature counts) is the type `Verified<Entry>`: the
//! registry checked that the entry's `publisher`, or one other key, signed it
//! ([`Verified::signer`]); that key must be the publisher's current key, or a retired one
//! within what its successor's rotation names ([`atoll_registry::KeyState::may_sign`]).
//! Void entries (signed by a retired key beyond that) are never a head and do not count
//! for the sequence rules.

use std::collections::HashMap;

use atoll_registry::rotation::Signed;
use atoll_registry::{Did, Entry, Hash, Verified};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::audit::{self, AuditKind};
use crate::blobs::BlobKind;
use crate::error::CatalogError;
use crate::provenance::Provenance;
use crate::rotation;
use crate::search;
use crate::signed::envelope_bytes;
use crate::store::{find_publisher, now, publisher_id, to_i64, Catalog};
use crate::trust;

/// What [`Catalog::ingest`] did with an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IngestOutcome {
    /// The first entry seen for this app; it is the head now.
    New {
        /// Its sequence.
        sequence: u64,
    },
    /// A higher sequence than the stored head; it replaced it.
    Newer {
        /// Its sequence.
        sequence: u64,
        /// The head it replaced.
        previous: u64,
    },
    /// These exact signed bytes are already stored; the new source was recorded.
    Duplicate {
        /// Its sequence.
        sequence: u64,
    },
    /// A lower sequence than the head, never seen before: rejected and recorded in the
    /// audit log. The head is unchanged.
    Rollback {
        /// Its sequence.
        sequence: u64,
        /// The head's sequence.
        current: u64,
    },
    /// A different payload with the same sequence as a stored entry: the publisher signed
    /// two different entries. Both are kept as evidence, the publisher is flagged and
    /// penalised; the copy fetched from the origin is the one that counts.
    Equivocation {
        /// The contested sequence.
        sequence: u64,
        /// Payload id of the entry that counts.
        kept: Hash,
        /// Payload id of the other one.
        other: Hash,
        /// True when the kept one was fetched from the publisher's origin.
        kept_from_origin: bool,
    },
    /// Accepted as the head, but already past `expires_at`: shown as stale and never
    /// auto-installed (freeze protection).
    Stale {
        /// Its sequence.
        sequence: u64,
        /// The head it replaced, if any.
        previous: Option<u64>,
    },
    /// Accepted as the head, and it withdraws its version (`yanked` is set).
    Yanked {
        /// Its sequence.
        sequence: u64,
        /// The head it replaced, if any.
        previous: Option<u64>,
    },
    /// These signed bytes were refused before for their manifest
    /// ([`Catalog::refuse_entry`]): nothing is stored, nothing is fetched again.
    Refused {
        /// Its sequence.
        sequence: u64,
    },
    /// Signed by a key the publisher's key state does not allow (a retired key after its
    /// last legitimate sequence, or not a key of the publisher): nothing stored, recorded
    /// in the audit log.
    KeyRefused {
        /// Its sequence.
        sequence: u64,
        /// Why.
        refusal: atoll_registry::rotation::SignerRefusal,
    },
}

impl IngestOutcome {
    /// Did the entry become the app's head?
    pub fn is_head(&self) -> bool {
        matches!(
            self,
            Self::New { .. } | Self::Newer { .. } | Self::Stale { .. } | Self::Yanked { .. }
        )
    }

    /// Short name: `new`, `newer`, `duplicate`, `rollback`, `equivocation`, `stale`,
    /// `yanked`, `refused`, `key-refused`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::New { .. } => "new",
            Self::Newer { .. } => "newer",
            Self::Duplicate { .. } => "duplicate",
            Self::Rollback { .. } => "rollback",
            Self::Equivocation { .. } => "equivocation",
            Self::Stale { .. } => "stale",
            Self::Yanked { .. } => "yanked",
            Self::Refused { .. } => "refused",
            Self::KeyRefused { .. } => "key-refused",
        }
    }
}

impl Catalog {
    /// Apply the origin-wins rules to one verified entry, atomically.
    pub fn ingest(
        &mut self,
        entry: &Verified<Entry>,
        provenance: &Provenance,
    ) -> Result<IngestOutcome, CatalogError> {
        let mut ctx = IngestCtx::new(now());
        self.write(|tx| ingest_in(tx, &mut ctx, entry, provenance))
    }

    /// Ingest many entries from one source in a single transaction (all or nothing).
    /// Outcomes are in input order; later entries see the effect of earlier ones.
    pub fn ingest_batch(
        &mut self,
        entries: &[Verified<Entry>],
        provenance: &Provenance,
    ) -> Result<Vec<IngestOutcome>, CatalogError> {
        let mut ctx = IngestCtx::new(now());
        self.write(|tx| {
            entries
                .iter()
                .map(|e| ingest_in(tx, &mut ctx, e, provenance))
                .collect()
        })
    }
}

/// State shared by the entries of one transaction.
pub(crate) struct IngestCtx {
    now: u64,
    /// DID → publisher row id, so a batch from few publishers looks each up once.
    publishers: HashMap<Did, i64>,
}

impl IngestCtx {
    pub(crate) fn new(now: u64) -> Self {
        Self {
            now,
            publishers: HashMap::new(),
        }
    }

    fn publisher(&mut self, tx: &Connection, did: &Did) -> Result<i64, CatalogError> {
        if let Some(id) = self.publishers.get(did) {
            return Ok(*id);
        }
        let id = publisher_id(tx, did, self.now)?;
        self.publishers.insert(*did, id);
        Ok(id)
    }
}

/// The head of an app, as far as the rules need it.
struct Stored {
    id: i64,
    sequence: u64,
    payload_id: Hash,
    from_origin: bool,
}

/// Decode a stored 32-byte hash.
pub(crate) fn decode_hash(bytes: Vec<u8>) -> Result<Hash, rusqlite::Error> {
    let raw: [u8; 32] = bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "hash is not 32 bytes".into(),
        )
    })?;
    Ok(Hash::from_bytes(raw))
}

fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        id: r.get(0)?,
        sequence: r.get::<_, i64>(1)?.max(0) as u64,
        payload_id: decode_hash(r.get(2)?)?,
        from_origin: r.get(3)?,
    })
}

pub(crate) fn ingest_in(
    tx: &Connection,
    ctx: &mut IngestCtx,
    entry: &Verified<Entry>,
    provenance: &Provenance,
) -> Result<IngestOutcome, CatalogError> {
    let now = ctx.now;
    let provenance = provenance.effective_for(entry);
    let from_origin = matches!(provenance, Provenance::Origin(_));
    let payload_id = entry.payload_id();
    let sequence = entry.sequence;

    // The same signed bytes again: record where they were seen.
    let known = tx
        .prepare_cached(
            "SELECT id, app_id, status, from_origin FROM entries WHERE payload_id = ?1",
        )?
        .query_row([payload_id.as_bytes()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })
        .optional()?;
    if let Some((entry_id, app_id, status, stored_origin)) = known {
        add_source(tx, entry_id, &provenance, now)?;
        if from_origin && !stored_origin {
            tx.prepare_cached("UPDATE entries SET from_origin = 1 WHERE id = ?1")?
                .execute([entry_id])?;
            if status == "conflict" {
                if let Some(head) = head_of(tx, app_id)? {
                    if head.sequence == sequence && !head.from_origin {
                        // The origin serves the copy that lost: it wins now.
                        make_head(tx, app_id, entry_id, Some(head.id), "conflict", true, now)?;
                        search::reindex_app(tx, app_id, false)?;
                        return Ok(IngestOutcome::Equivocation {
                            sequence,
                            kept: payload_id,
                            other: head.payload_id,
                            kept_from_origin: true,
                        });
                    }
                }
            }
        }
        return Ok(IngestOutcome::Duplicate { sequence });
    }
    // Refused before for its manifest: store nothing (not even the publisher).
    if audit::has_key(tx, &audit::refused_entry_key(&payload_id))? {
        return Ok(IngestOutcome::Refused { sequence });
    }

    // The signing key against the publisher's key state (a rotated key, a retired one).
    let signer = *entry.signer();
    let known = if signer == entry.publisher {
        Some(ctx.publisher(tx, &entry.publisher)?)
    } else {
        find_publisher(tx, &entry.publisher)?
    };
    let what = Signed::Entry(&entry.app, sequence);
    let allowed = match known {
        Some(id) => rotation::signer_allowed(tx, id, &entry.publisher, &signer, what)?,
        None => atoll_registry::KeyState::new(entry.publisher).may_sign(&signer, what),
    };
    if let Err(refusal) = allowed {
        let subject = entry.app_ref().to_string();
        rotation::refuse_signer(tx, &subject, entry, &refusal, &provenance, now)?;
        return Ok(IngestOutcome::KeyRefused { sequence, refusal });
    }
    let publisher = ctx.publisher(tx, &entry.publisher)?;
    let (app_id, fresh) = app_id(tx, publisher, entry, now)?;
    let head = if fresh { None } else { head_of(tx, app_id)? };
    let outcome = match head {
        None => {
            let id = insert_entry(tx, app_id, entry, "head", from_origin, now)?;
            add_source(tx, id, &provenance, now)?;
            make_head(tx, app_id, id, None, "superseded", false, now)?;
            accepted(entry, None, now)
        }
        Some(head) if sequence > head.sequence => {
            let id = insert_entry(tx, app_id, entry, "head", from_origin, now)?;
            add_source(tx, id, &provenance, now)?;
            make_head(tx, app_id, id, Some(head.id), "superseded", false, now)?;
            accepted(entry, Some(head.sequence), now)
        }
        Some(head) if sequence == head.sequence => {
            let origin_wins = from_origin && !head.from_origin;
            let status = if origin_wins { "head" } else { "conflict" };
            let id = insert_entry(tx, app_id, entry, status, from_origin, now)?;
            add_source(tx, id, &provenance, now)?;
            if origin_wins {
                make_head(tx, app_id, id, Some(head.id), "conflict", false, now)?;
            }
            let (kept, other) = if origin_wins {
                (payload_id, head.payload_id)
            } else {
                (head.payload_id, payload_id)
            };
            equivocated(tx, publisher, app_id, entry, &provenance, now)?;
            IngestOutcome::Equivocation {
                sequence,
                kept,
                other,
                kept_from_origin: if origin_wins { true } else { head.from_origin },
            }
        }
        Some(head) => {
            let earlier = tx
                .prepare_cached(
                    "SELECT id, sequence, payload_id, from_origin FROM entries
                     WHERE app_id = ?1 AND sequence = ?2 AND status != 'conflict' AND void IS NULL
                     LIMIT 1",
                )?
                .query_row(params![app_id, to_i64(sequence)], stored_row)
                .optional()?;
            match earlier {
                Some(stored) => {
                    let id = insert_entry(tx, app_id, entry, "conflict", from_origin, now)?;
                    add_source(tx, id, &provenance, now)?;
                    equivocated(tx, publisher, app_id, entry, &provenance, now)?;
                    IngestOutcome::Equivocation {
                        sequence,
                        kept: stored.payload_id,
                        other: payload_id,
                        kept_from_origin: stored.from_origin,
                    }
                }
                None => {
                    // Once per signed entry, however often it is replayed.
                    let key = audit::key(AuditKind::Rollback.as_str(), &[payload_id.as_bytes()]);
                    audit::record_in(
                        tx,
                        now,
                        audit::Record {
                            kind: AuditKind::Rollback,
                            provenance: &provenance,
                            key: Some(&key),
                            subject: Some(&entry.app_ref().to_string()),
                            reason: &format!(
                                "sequence {sequence} is lower than the stored head's {}",
                                head.sequence
                            ),
                            payload: Some(&envelope_bytes(entry)?),
                        },
                    )?;
                    tracing::info!(app = %entry.app_ref(), sequence, current = head.sequence, "rollback rejected");
                    return Ok(IngestOutcome::Rollback {
                        sequence,
                        current: head.sequence,
                    });
                }
            }
        }
    };
    if outcome.is_head() || matches!(outcome, IngestOutcome::Equivocation { .. }) {
        search::reindex_app(tx, app_id, fresh)?;
    }
    Ok(outcome)
}

fn accepted(entry: &Entry, previous: Option<u64>, now: u64) -> IngestOutcome {
    let sequence = entry.sequence;
    if entry.yanked.is_some() {
        IngestOutcome::Yanked { sequence, previous }
    } else if entry.is_expired(now) {
        IngestOutcome::Stale { sequence, previous }
    } else {
        match previous {
            None => IngestOutcome::New { sequence },
            Some(previous) => IngestOutcome::Newer { sequence, previous },
        }
    }
}

/// The app's row id, and whether it was created just now.
fn app_id(
    tx: &Connection,
    publisher: i64,
    entry: &Entry,
    now: u64,
) -> Result<(i64, bool), CatalogError> {
    let app = entry.app.as_str();
    if let Some(id) = tx
        .prepare_cached("SELECT id FROM apps WHERE publisher_id = ?1 AND app = ?2")?
        .query_row(params![publisher, app], |r| r.get(0))
        .optional()?
    {
        return Ok((id, false));
    }
    let trust: f64 = tx
        .prepare_cached("SELECT score FROM trust_scores WHERE publisher_id = ?1")?
        .query_row([publisher], |r| r.get(0))
        .optional()?
        .unwrap_or(0.0);
    tx.prepare_cached(
        "INSERT INTO apps (publisher_id, app, updated_at, name, trust) VALUES (?1, ?2, ?3, ?2, ?4)",
    )?
    .execute(params![publisher, app, to_i64(now), trust])?;
    Ok((tx.last_insert_rowid(), true))
}

fn head_of(tx: &Connection, app_id: i64) -> Result<Option<Stored>, CatalogError> {
    // Two single-table lookups rather than a join: with STAT4 compiled in, SQLite
    // re-prepares a parameterised join on every new binding (see search::reindex_app).
    let head: Option<i64> = tx
        .prepare_cached("SELECT head_entry_id FROM apps WHERE id = ?1")?
        .query_row([app_id], |r| r.get(0))
        .optional()?
        .flatten();
    let Some(head) = head else {
        return Ok(None);
    };
    Ok(tx
        .prepare_cached("SELECT id, sequence, payload_id, from_origin FROM entries WHERE id = ?1")?
        .query_row([head], stored_row)
        .optional()?)
}

/// Point the app at `new_head`; the old head (if any) gets `old_status`. `promote` marks
/// the new head's row (rows inserted as `head` need not be touched again).
fn make_head(
    tx: &Connection,
    app_id: i64,
    new_head: i64,
    old_head: Option<i64>,
    old_status: &str,
    promote: bool,
    now: u64,
) -> Result<(), CatalogError> {
    let mut set = tx.prepare_cached("UPDATE entries SET status = ?2 WHERE id = ?1")?;
    if let Some(old) = old_head {
        set.execute(params![old, old_status])?;
    }
    if promote {
        set.execute(params![new_head, "head"])?;
    }
    tx.prepare_cached("UPDATE apps SET head_entry_id = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![app_id, new_head, to_i64(now)])?;
    Ok(())
}

fn insert_entry(
    tx: &Connection,
    app_id: i64,
    entry: &Verified<Entry>,
    status: &str,
    from_origin: bool,
    now: u64,
) -> Result<i64, CatalogError> {
    let bytes = envelope_bytes(entry)?;
    tx.prepare_cached(
        "INSERT INTO entries (app_id, sequence, version, payload_id, manifest_hash, manifest_size,
             published_at, expires_at, yanked, status, from_origin, envelope, first_seen, signer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        app_id,
        to_i64(entry.sequence),
        entry.version.to_string(),
        entry.payload_id().as_bytes(),
        entry.manifest.hash.as_bytes(),
        to_i64(entry.manifest.size),
        to_i64(entry.published_at),
        to_i64(entry.expires_at),
        entry.yanked.as_ref().map(|y| y.reason.as_str()),
        status,
        from_origin,
        bytes,
        to_i64(now),
        rotation::signer_column(&entry.publisher, entry.signer()),
    ])?;
    let id = tx.last_insert_rowid();
    let mut blob = tx.prepare_cached(
        "INSERT OR IGNORE INTO blobs (hash, size, kind, first_seen) VALUES (?1, ?2, ?3, ?4)",
    )?;
    blob.execute(params![
        entry.manifest.hash.as_bytes(),
        to_i64(entry.manifest.size),
        BlobKind::Manifest,
        to_i64(now)
    ])?;
    for a in &entry.artifacts {
        let kind = match a.kind {
            atoll_registry::objects::ArtifactKind::Icon => BlobKind::Icon,
            atoll_registry::objects::ArtifactKind::Image => BlobKind::Image,
            // A screenshot is stored as what an icon is: a small image the UI shows,
            // fetched with the entry (the blob table's kinds are fixed by its schema).
            atoll_registry::objects::ArtifactKind::Screenshot => BlobKind::Icon,
        };
        blob.execute(params![
            a.blob.hash.as_bytes(),
            to_i64(a.blob.size),
            kind,
            to_i64(now)
        ])?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO entry_artifacts (hash, entry_id) VALUES (?1, ?2)",
        )?
        .execute(params![a.blob.hash.as_bytes(), id])?;
    }
    Ok(id)
}

fn add_source(
    tx: &Connection,
    entry_id: i64,
    provenance: &Provenance,
    now: u64,
) -> Result<(), CatalogError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO entry_sources (entry_id, kind, source, first_seen) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![entry_id, provenance.kind(), provenance.source(), to_i64(now)])?;
    Ok(())
}

/// Flag the app, penalise the publisher once per (app, sequence), and log the evidence.
fn equivocated(
    tx: &Connection,
    publisher: i64,
    app_id: i64,
    entry: &Verified<Entry>,
    provenance: &Provenance,
    now: u64,
) -> Result<(), CatalogError> {
    let app_ref = entry.app_ref().to_string();
    tx.prepare_cached("UPDATE apps SET equivocated = 1 WHERE id = ?1")?
        .execute([app_id])?;
    let detail = format!(
        "signed two different entries for {} with sequence {}",
        entry.app, entry.sequence
    );
    trust::penalize_in(
        tx,
        publisher,
        trust::PenaltyKind::Equivocation,
        &format!("{}#{}", entry.app, entry.sequence),
        &detail,
        now,
    )?;
    let key = audit::key(
        AuditKind::Equivocation.as_str(),
        &[entry.payload_id().as_bytes()],
    );
    audit::record_in(
        tx,
        now,
        audit::Record {
            kind: AuditKind::Equivocation,
            provenance,
            key: Some(&key),
            subject: Some(&app_ref),
            reason: &detail,
            payload: Some(&envelope_bytes(entry)?),
        },
    )?;
    tracing::warn!(app = %app_ref, sequence = entry.sequence, "publisher equivocated");
    Ok(())
}

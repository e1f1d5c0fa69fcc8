//! [`CatalogPort`] over the SQLite catalog (`atoll-catalog`): the origin-wins rules, the
//! audit log, sync cursors and the blob index all live there.

use std::path::Path;
use std::sync::Mutex;

use atoll_catalog::{AuditKind, Catalog, IngestOutcome, OpenError, Provenance, UpdateOutcome};
use atoll_registry::{Entry, Envelope, Hash, Manifest, Verified};

use crate::codec::Object;
use crate::port::{CatalogPort, EntryRefusal, EntryVerdict, PortError, Source};
use crate::reject::{Reason, Rejection};

/// The SQLite catalog behind a lock (one connection; SQLite serialises writers anyway).
#[derive(Debug)]
pub struct SqliteCatalog {
    catalog: Mutex<Catalog>,
}

impl SqliteCatalog {
    /// Open (or create) the catalog file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Ok(Self::new(Catalog::open(path)?))
    }

    /// Wrap an open catalog.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog: Mutex::new(catalog),
        }
    }

    /// Run `f` on the catalog (for reads by the caller).
    pub fn with<T>(&self, f: impl FnOnce(&mut Catalog) -> T) -> Result<T, PortError> {
        let mut c = self
            .catalog
            .lock()
            .map_err(|_| PortError("catalog lock poisoned".into()))?;
        Ok(f(&mut c))
    }
}

fn err(e: impl std::fmt::Display) -> PortError {
    PortError(e.to_string())
}

fn provenance(source: &Source) -> Provenance {
    match source {
        Source::Origin { origin, .. } if !origin.is_empty() => Provenance::Origin(origin.clone()),
        other => Provenance::Relay(other.relay().to_owned()),
    }
}

fn verdict(outcome: IngestOutcome, entry: &Verified<Entry>) -> EntryVerdict {
    match outcome {
        IngestOutcome::New { .. } | IngestOutcome::Newer { .. } => EntryVerdict::Head,
        IngestOutcome::Stale { .. } => EntryVerdict::StaleHead,
        IngestOutcome::Yanked { .. } => EntryVerdict::YankedHead,
        // Refused before for its manifest: nothing stored, nothing to fetch.
        IngestOutcome::Duplicate { .. } | IngestOutcome::Refused { .. } => EntryVerdict::Duplicate,
        IngestOutcome::Rollback { sequence, current } => EntryVerdict::Refused(Reason::Rollback {
            stored: current,
            got: sequence,
        }),
        IngestOutcome::Equivocation { sequence, kept, .. } => {
            if kept == entry.payload_id() {
                EntryVerdict::EquivocationWon
            } else {
                EntryVerdict::Refused(Reason::Equivocation { sequence })
            }
        }
        other => {
            tracing::warn!(
                outcome = other.name(),
                "unknown catalog outcome; treated as duplicate"
            );
            EntryVerdict::Duplicate
        }
    }
}

fn audit_kind(reason_code: &str) -> AuditKind {
    match reason_code {
        "nostr-signature" | "did-signature" => AuditKind::BadSignature,
        "blob-corrupt" | "blob-size" => AuditKind::BlobMismatch,
        "rollback" => AuditKind::Rollback,
        "manifest-policy" | "manifest-mismatch" => AuditKind::RefusedEntry,
        "equivocation" => AuditKind::Equivocation,
        _ => AuditKind::Invalid,
    }
}

fn provenance_of(r: &Rejection) -> Provenance {
    if r.source.starts_with("ws://") || r.source.starts_with("wss://") {
        Provenance::Relay(r.source.clone())
    } else {
        Provenance::Peer(r.source.clone())
    }
}

/// `[code] reason (event id)`: the code first, so that readers can find it.
fn audit_reason(r: &Rejection) -> String {
    let mut reason = format!("[{}] {}", r.code, r.reason);
    if let Some(id) = &r.event_id {
        reason.push_str(&format!(" (event {id})"));
    }
    reason
}

impl CatalogPort for SqliteCatalog {
    fn ingest_entry(
        &self,
        entry: &Verified<Entry>,
        source: &Source,
    ) -> Result<EntryVerdict, PortError> {
        let outcome = self
            .with(|c| c.ingest(entry, &provenance(source)))?
            .map_err(err)?;
        Ok(verdict(outcome, entry))
    }

    fn ingest_entries(
        &self,
        batch: &[(Verified<Entry>, Source)],
    ) -> Vec<Result<EntryVerdict, PortError>> {
        let mut out = Vec::with_capacity(batch.len());
        // One transaction per run of entries from the same source.
        let mut start = 0;
        while start < batch.len() {
            let prov = provenance(&batch[start].1);
            let end = batch[start..]
                .iter()
                .position(|(_, s)| provenance(s) != prov)
                .map_or(batch.len(), |n| start + n);
            let entries: Vec<Verified<Entry>> =
                batch[start..end].iter().map(|(e, _)| e.clone()).collect();
            match self.with(|c| c.ingest_batch(&entries, &prov)) {
                Ok(Ok(outcomes)) => out.extend(
                    outcomes
                        .into_iter()
                        .zip(&entries)
                        .map(|(o, e)| Ok(verdict(o, e))),
                ),
                Ok(Err(e)) => out.extend(entries.iter().map(|_| Err(err(&e)))),
                Err(e) => out.extend(entries.iter().map(|_| Err(PortError(e.0.clone())))),
            }
            start = end;
        }
        out
    }

    fn ingest_object(&self, object: &Object, source: &Source) -> Result<bool, PortError> {
        let prov = provenance(source);
        let fresh =
            |o: UpdateOutcome| matches!(o, UpdateOutcome::New | UpdateOutcome::Newer { .. });
        match object {
            Object::Publisher(p) => Ok(fresh(
                self.with(|c| c.ingest_profile(p, &prov))?.map_err(err)?,
            )),
            Object::Endorsement(e) => Ok(fresh(
                self.with(|c| c.ingest_endorsement(e, &prov))?
                    .map_err(err)?,
            )),
            Object::Mirror(m) => {
                let holder = m.node_id_hex();
                self.with(|c| {
                    for h in &m.blobs {
                        // Blobs no stored entry names are not indexed; that is fine.
                        let _ = c.add_blob_holder(h, &holder);
                    }
                })?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn attach_manifest(&self, manifest: &Manifest) -> Result<(), PortError> {
        self.with(|c| c.attach_manifest(manifest))?
            .map(|_| ())
            .map_err(err)
    }

    fn entry_ready(&self, entry: &Verified<Entry>) -> Result<(), PortError> {
        let hashes: Vec<Hash> = std::iter::once(entry.manifest.hash)
            .chain(entry.artifacts.iter().map(|a| a.blob.hash))
            .collect();
        self.with(|c| {
            for h in &hashes {
                let _ = c.set_blob_held(h, true);
            }
        })
    }

    fn record_rejection(&self, r: &Rejection) -> Result<bool, PortError> {
        let prov = provenance_of(r);
        let rejection = atoll_catalog::AuditInput {
            kind: audit_kind(r.code),
            provenance: &prov,
            key: r.key,
            subject: r.subject.clone(),
            reason: audit_reason(r),
            payload: None,
            attributed_to: None,
        };
        Ok(self
            .with(|c| c.record_rejection(&rejection))?
            .map_err(err)?
            .is_some())
    }

    fn refuse_entry(
        &self,
        entry: &Verified<Entry>,
        r: &Rejection,
    ) -> Result<EntryRefusal, PortError> {
        let prov = provenance_of(r);
        let reason = audit_reason(r);
        let (done, new_head) = self
            .with(|c| {
                let done = c.refuse_entry(entry, &prov, &reason)?;
                let head = match &done.new_head {
                    Some(id) => c.entry_envelope(id)?,
                    None => None,
                };
                Ok::<_, atoll_catalog::CatalogError>((done, head))
            })?
            .map_err(err)?;
        // The restored head was verified when it was stored; check its bytes again anyway.
        let new_head = new_head.and_then(|bytes| {
            Envelope::from_slice(&bytes)
                .and_then(|e| e.verify::<Entry>())
                .map_err(|e| tracing::warn!(error = %e, "a stored entry does not verify"))
                .ok()
        });
        Ok(EntryRefusal {
            recorded: done.recorded,
            new_head,
            orphaned: done.orphaned,
        })
    }

    fn heal_cursor(&self, relay: &str) -> Result<Option<u64>, PortError> {
        self.with(|c| c.heal_sync_cursor(relay))?.map_err(err)
    }

    fn cursor(&self, relay: &str) -> Result<Option<u64>, PortError> {
        self.with(|c| c.sync_cursor(relay))?.map_err(err)
    }

    fn set_cursor(&self, relay: &str, since: u64) -> Result<(), PortError> {
        self.with(|c| c.advance_sync_cursor(relay, since))?
            .map(|_| ())
            .map_err(err)
    }
}

//! Discovery's [`CatalogPort`] over the node's [`CatalogService`]: the origin-wins rules,
//! the audit log, sync cursors and the blob index all live in the catalog; this adapter
//! only translates between the two crates' types (matched exhaustively both ways) and
//! runs every call on the service (writes on its writer thread, reads off the async
//! worker threads).

use atoll_catalog::{
    AuditKind, Catalog, CatalogError, CatalogService, IngestOutcome, Provenance, RotationOutcome,
    UpdateOutcome,
};
use atoll_discovery::codec::Object;
use atoll_discovery::{
    AuditCategory, BatchFuture, CatalogPort, EntryRefusal, EntryVerdict, ObjectVerdict, OriginName,
    PortError, PortFuture, Reason, Rejection, RejectionSource, RotationVerdict, SigningKeyProblem,
    Source,
};
use atoll_registry::{Entry, Envelope, Hash, Manifest, Rotation, Verified};

/// The port over the node's one catalog service (no connection of its own).
#[derive(Debug, Clone)]
pub struct SwarmCatalog {
    service: CatalogService,
    recompute: Option<super::trust_recompute::TrustRecompute>,
}

impl SwarmCatalog {
    /// The port over `service`.
    pub fn new(service: CatalogService) -> Self {
        Self {
            service,
            recompute: None,
        }
    }

    /// Poke `recompute` whenever trust's inputs change: a new endorsement or report, an
    /// equivocation, a forged-input penalty.
    pub fn with_recompute(mut self, recompute: super::trust_recompute::TrustRecompute) -> Self {
        self.recompute = Some(recompute);
        self
    }

    fn trust_changed(&self) {
        if let Some(r) = &self.recompute {
            r.poke();
        }
    }

    /// The service underneath.
    pub fn service(&self) -> &CatalogService {
        &self.service
    }

    async fn write<T, F>(&self, f: F) -> Result<T, PortError>
    where
        F: FnOnce(&mut Catalog) -> Result<T, CatalogError> + Send + 'static,
        T: Send + 'static,
    {
        self.service.write(f).await.map_err(port_error)
    }
}

fn port_error(e: CatalogError) -> PortError {
    match e {
        CatalogError::ServiceStopped => PortError::Stopped,
        other => PortError::Storage(Box::new(other)),
    }
}

/// The provenance the catalog records for an object from `source`.
fn provenance(source: &Source) -> Provenance {
    match source {
        Source::Origin {
            origin: Some(OriginName::Node(id)),
            ..
        } => Provenance::Origin(id.clone()),
        Source::Origin {
            origin: Some(OriginName::Https(url)),
            ..
        } => Provenance::Origin(url.clone()),
        Source::Origin {
            relay,
            origin: None,
        }
        | Source::Relay(relay) => Provenance::Relay(relay.clone()),
    }
}

/// The provenance of a rejection: relays by URL; blob sources, local sources and the blob
/// stage as peers, named as `sync status` shows them.
fn rejection_provenance(source: &RejectionSource) -> Provenance {
    match source {
        RejectionSource::Relay(url) => Provenance::Relay(url.clone()),
        RejectionSource::Node { .. }
        | RejectionSource::Https(_)
        | RejectionSource::Local(_)
        | RejectionSource::BlobStage => Provenance::Peer(source.to_string()),
    }
}

fn audit_kind(category: AuditCategory) -> AuditKind {
    match category {
        AuditCategory::BadSignature => AuditKind::BadSignature,
        AuditCategory::BlobMismatch => AuditKind::BlobMismatch,
        AuditCategory::Rollback => AuditKind::Rollback,
        AuditCategory::RefusedEntry => AuditKind::RefusedEntry,
        AuditCategory::Equivocation => AuditKind::Equivocation,
        AuditCategory::Invalid => AuditKind::Invalid,
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

/// The catalog's outcome for the entry with payload id `id`, as the pipeline's verdict.
fn verdict(outcome: IngestOutcome, id: &Hash) -> EntryVerdict {
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
        IngestOutcome::KeyRefused { refusal, .. } => {
            EntryVerdict::Refused(Reason::SigningKey(SigningKeyProblem::Signer(refusal)))
        }
        IngestOutcome::Equivocation { sequence, kept, .. } => {
            if kept == *id {
                EntryVerdict::EquivocationWon
            } else {
                EntryVerdict::Refused(Reason::Equivocation { sequence })
            }
        }
    }
}

/// The port's verdict on a profile or endorsement of `sequence` (the catalog audited
/// every refusal already).
fn object_verdict(outcome: UpdateOutcome, sequence: u64) -> ObjectVerdict {
    match outcome {
        UpdateOutcome::New | UpdateOutcome::Newer { .. } => ObjectVerdict::Stored,
        UpdateOutcome::Duplicate => ObjectVerdict::Known,
        UpdateOutcome::Rollback { current } => ObjectVerdict::Refused(Reason::Rollback {
            stored: current,
            got: sequence,
        }),
        UpdateOutcome::Equivocation => ObjectVerdict::Refused(Reason::Equivocation { sequence }),
        UpdateOutcome::OverLimit { max } => ObjectVerdict::Refused(Reason::SignerLimit { max }),
        UpdateOutcome::KeyRefused => {
            ObjectVerdict::Refused(Reason::SigningKey(SigningKeyProblem::KeyState))
        }
    }
}

impl CatalogPort for SwarmCatalog {
    fn ingest_entry<'a>(
        &'a self,
        entry: &'a Verified<Entry>,
        source: &'a Source,
    ) -> PortFuture<'a, EntryVerdict> {
        Box::pin(async move {
            let id = entry.payload_id();
            let (entry, prov) = (entry.clone(), provenance(source));
            let outcome = self.write(move |c| c.ingest(&entry, &prov)).await?;
            if matches!(outcome, IngestOutcome::Equivocation { .. }) {
                self.trust_changed();
            }
            Ok(verdict(outcome, &id))
        })
    }

    fn ingest_entries<'a>(&'a self, batch: &'a [(Verified<Entry>, Source)]) -> BatchFuture<'a> {
        Box::pin(async move {
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
                let ids: Vec<Hash> = entries.iter().map(|e| e.payload_id()).collect();
                match self.write(move |c| c.ingest_batch(&entries, &prov)).await {
                    Ok(outcomes) => {
                        if outcomes
                            .iter()
                            .any(|o| matches!(o, IngestOutcome::Equivocation { .. }))
                        {
                            self.trust_changed();
                        }
                        out.extend(
                            outcomes
                                .into_iter()
                                .zip(&ids)
                                .map(|(o, id)| Ok(verdict(o, id))),
                        );
                    }
                    Err(e) => {
                        // Every entry of the run failed for the same reason.
                        let e: std::sync::Arc<PortError> = std::sync::Arc::new(e);
                        out.extend(ids.iter().map(|_| Err(shared(&e))));
                    }
                }
                start = end;
            }
            out
        })
    }

    fn ingest_object<'a>(
        &'a self,
        object: &'a Object,
        source: &'a Source,
    ) -> PortFuture<'a, ObjectVerdict> {
        Box::pin(async move {
            let prov = provenance(source);
            match object {
                Object::Publisher(p) => {
                    let (p, sequence) = (p.clone(), p.sequence);
                    let outcome = self.write(move |c| c.ingest_profile(&p, &prov)).await?;
                    Ok(object_verdict(outcome, sequence))
                }
                Object::Endorsement(e) => {
                    let (e, sequence) = (e.clone(), e.sequence);
                    let outcome = self.write(move |c| c.ingest_endorsement(&e, &prov)).await?;
                    let verdict = object_verdict(outcome, sequence);
                    if matches!(
                        outcome,
                        UpdateOutcome::New
                            | UpdateOutcome::Newer { .. }
                            | UpdateOutcome::Equivocation
                    ) {
                        self.trust_changed();
                    }
                    Ok(verdict)
                }
                Object::Mirror(m) => {
                    let holder = m.node_id_hex();
                    let blobs = m.blobs.clone();
                    self.write(move |c| {
                        for h in &blobs {
                            // Blobs no stored entry names are not indexed; that is fine.
                            let _ = c.add_blob_holder(h, &holder);
                        }
                        Ok(())
                    })
                    .await?;
                    Ok(ObjectVerdict::Stored)
                }
                // Entries go through `ingest_entry`, rotations through `ingest_rotation`;
                // curated lists are not kept (yet).
                Object::Entry(_) | Object::List(_) | Object::Rotation(_) => {
                    Ok(ObjectVerdict::Known)
                }
            }
        })
    }

    fn ingest_rotation<'a>(
        &'a self,
        rotation: &'a Verified<Rotation>,
        source: &'a Source,
    ) -> PortFuture<'a, RotationVerdict> {
        Box::pin(async move {
            let (rotation, prov) = (rotation.clone(), provenance(source));
            let (outcome, heads) = self
                .write(move |c| {
                    let outcome = c.ingest_rotation(&rotation, &prov)?;
                    let mut heads = Vec::new();
                    if let RotationOutcome::Accepted { new_heads, .. } = &outcome {
                        for id in new_heads {
                            heads.extend(c.entry_envelope(id)?);
                        }
                    }
                    Ok((outcome, heads))
                })
                .await?;
            Ok(match outcome {
                RotationOutcome::Accepted { voided, .. } => RotationVerdict::Accepted {
                    voided: voided
                        .iter()
                        .filter(|v| v.kind == "entry")
                        .filter_map(|v| v.payload_id.parse().ok())
                        .collect(),
                    // Verified when stored; checked again anyway.
                    new_heads: heads
                        .iter()
                        .filter_map(|b| {
                            Envelope::from_slice(b)
                                .and_then(|e| e.verify_rotated::<Entry>())
                                .ok()
                        })
                        .collect(),
                },
                RotationOutcome::Duplicate => RotationVerdict::Duplicate,
                RotationOutcome::Refused { refusal } => RotationVerdict::Refused(refusal),
            })
        })
    }

    fn attach_manifest<'a>(&'a self, manifest: &'a Manifest) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let manifest = manifest.clone();
            self.write(move |c| c.attach_manifest(&manifest).map(|_| ()))
                .await
        })
    }

    fn entry_ready<'a>(&'a self, entry: &'a Verified<Entry>) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let hashes: Vec<Hash> = std::iter::once(entry.manifest.hash)
                .chain(entry.artifacts.iter().map(|a| a.blob.hash))
                .collect();
            self.write(move |c| {
                for h in &hashes {
                    let _ = c.set_blob_held(h, true);
                }
                Ok(())
            })
            .await
        })
    }

    fn record_rejection<'a>(&'a self, r: &'a Rejection) -> PortFuture<'a, bool> {
        Box::pin(async move {
            let prov = rejection_provenance(&r.source);
            let (kind, key, subject, reason, attributed_to) = (
                audit_kind(r.category),
                r.key,
                r.subject.clone(),
                audit_reason(r),
                r.attributed_to,
            );
            let row = self
                .write(move |c| {
                    c.record_rejection(&atoll_catalog::AuditInput {
                        kind,
                        provenance: &prov,
                        key,
                        subject,
                        reason,
                        payload: None,
                        attributed_to,
                    })
                })
                .await?;
            if row.is_some() && attributed_to.is_some() {
                self.trust_changed();
            }
            Ok(row.is_some())
        })
    }

    fn refuse_entry<'a>(
        &'a self,
        entry: &'a Verified<Entry>,
        r: &'a Rejection,
    ) -> PortFuture<'a, EntryRefusal> {
        Box::pin(async move {
            let prov = rejection_provenance(&r.source);
            let reason = audit_reason(r);
            let entry = entry.clone();
            let forged = r.attributed_to;
            let (done, new_head, penalized) = self
                .write(move |c| {
                    let done = c.refuse_entry(&entry, &prov, &reason)?;
                    // The entry verified under its DID and names this manifest by hash: the
                    // DID signed the bytes that failed (`Reason::provable_by_signer`).
                    let penalized = match forged {
                        Some(did) => c.penalize_forged(
                            &did,
                            &format!("entry {}", entry.payload_id().to_hex()),
                            &format!(
                                "signed {} whose manifest was refused: {reason}",
                                entry.app_ref()
                            ),
                        )?,
                        None => false,
                    };
                    let head = match &done.new_head {
                        Some(id) => c.entry_envelope(id)?,
                        None => None,
                    };
                    Ok((done, head, penalized))
                })
                .await?;
            if penalized {
                self.trust_changed();
            }
            // The restored head was verified when it was stored; check its bytes again anyway.
            let new_head = new_head.and_then(|bytes| {
                Envelope::from_slice(&bytes)
                    .and_then(|e| e.verify_rotated::<Entry>())
                    .map_err(|e| tracing::warn!(error = %e, "a stored entry does not verify"))
                    .ok()
            });
            Ok(EntryRefusal {
                recorded: done.recorded,
                new_head,
                orphaned: done.orphaned,
            })
        })
    }

    fn cursor<'a>(&'a self, relay: &'a str) -> PortFuture<'a, Option<u64>> {
        Box::pin(async move {
            let relay = relay.to_owned();
            self.service
                .read(move |c| c.sync_cursor(&relay))
                .await
                .map_err(port_error)
        })
    }

    fn set_cursor<'a>(&'a self, relay: &'a str, since: u64) -> PortFuture<'a, ()> {
        Box::pin(async move {
            let relay = relay.to_owned();
            self.write(move |c| c.advance_sync_cursor(&relay, since).map(|_| ()))
                .await
        })
    }

    fn heal_cursor<'a>(&'a self, relay: &'a str) -> PortFuture<'a, Option<u64>> {
        Box::pin(async move {
            let relay = relay.to_owned();
            self.write(move |c| c.heal_sync_cursor(&relay)).await
        })
    }
}

/// A copy of a failure shared by a run of entries (each gets its own error value).
fn shared(e: &std::sync::Arc<PortError>) -> PortError {
    PortError::Storage(Box::new(SharedFailure(e.clone())))
}

/// One storage failure that failed a whole run of entries.
#[derive(Debug)]
struct SharedFailure(std::sync::Arc<PortError>);

impl std::fmt::Display for SharedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.0.as_ref())
    }
}

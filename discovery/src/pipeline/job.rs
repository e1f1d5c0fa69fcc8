//! The blob stage of one entry: fetch the manifest, check it against the policy and the
//! entry, fetch the artifacts, then mark the entry ready and announce the mirror.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use atoll_registry::objects::{Artifact, ArtifactKind, BlobRef, MAX_MANIFEST_BYTES};
use atoll_registry::{Entry, Envelope, Hash, Manifest, Verified};
use tokio_util::sync::CancellationToken;

use crate::announce::{MirrorAnnouncement, MirrorType};
use crate::blobs::{BlobSource, FetchError, Fetcher, ProgressSender};
use crate::codec::{self, Object};
use crate::identity::NodeKey;
use crate::node::BlobsUnavailable;
use crate::port::CatalogPort;
use crate::reject::{Counters, ManifestMismatch, Reason, Rejection, RejectionSource};
use crate::relay::RelayPool;

/// Most rejections kept in memory for `sync status`.
pub(crate) const RECENT_REJECTIONS: usize = 64;

/// What jobs share.
#[derive(Clone)]
pub(crate) struct JobCtx {
    pub port: Arc<dyn CatalogPort>,
    pub counters: Counters,
    pub fetcher: Fetcher,
    pub relays: RelayPool,
    pub node_key: NodeKey,
    pub mirror: bool,
    pub recent: Arc<Mutex<VecDeque<Rejection>>>,
    pub cancel: CancellationToken,
}

impl JobCtx {
    /// Count, keep and record a rejection (`in_catalog`: the catalog recorded it already).
    /// The audit log keeps one row per [`Rejection::key`]; the log line is bounded.
    pub async fn reject(&self, rejection: Rejection, reason: &Reason, in_catalog: bool) {
        let recorded = in_catalog
            || match self.port.record_rejection(&rejection).await {
                Ok(new) => new,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record a rejection in the catalog");
                    true
                }
            };
        self.note(rejection, reason, recorded);
    }

    /// Count and keep a rejection recorded elsewhere (`recorded`: new in the audit log).
    pub fn note(&self, rejection: Rejection, reason: &Reason, recorded: bool) {
        self.counters.rejected(reason);
        if recorded {
            tracing::info!(code = reason.code(), source = %rejection.source, reason = %rejection.reason, "rejected");
        } else {
            tracing::debug!(code = reason.code(), source = %rejection.source, "rejected again (recorded before)");
        }
        if let Ok(mut r) = self.recent.lock() {
            if r.len() >= RECENT_REJECTIONS {
                r.pop_front();
            }
            r.push_back(rejection);
        }
    }
}

/// One entry's blob work.
pub(crate) struct JobInput {
    pub entry: Verified<Entry>,
    pub manifest_sources: Vec<BlobSource>,
    pub artifacts: Vec<(Artifact, Vec<BlobSource>)>,
    /// Fetch image archives too.
    pub images: bool,
    /// Where the progress of each blob goes (nowhere for the sync's own jobs).
    pub progress: ProgressSender,
}

/// How the job ended.
#[derive(Debug)]
pub(crate) enum JobOutcome {
    /// Every required blob is verified and held.
    Accepted,
    /// The entry is refused (manifest policy, mismatch, size) and removed from the
    /// catalog; holds the app's previous head, restored, if there is one.
    Rejected(Reason, Option<Box<Verified<Entry>>>),
    /// Some blob could not be fetched from any source: try again later.
    Unavailable(BlobsUnavailable),
    /// Shutting down.
    Cancelled,
}

pub(crate) async fn run(ctx: JobCtx, input: JobInput) -> (Hash, JobOutcome) {
    let id = input.entry.payload_id();
    let outcome = match run_inner(&ctx, &input).await {
        Err(reason) => refuse(&ctx, &input.entry, reason).await,
        Ok(outcome) => outcome,
    };
    (id, outcome)
}

/// The entry's blobs make it invalid: the catalog removes it (restoring the previous
/// head), the node drops the blobs only it named, and the refusal is recorded once.
async fn refuse(ctx: &JobCtx, entry: &Verified<Entry>, reason: Reason) -> JobOutcome {
    let mut r = Rejection::new(&reason, RejectionSource::BlobStage).keyed(
        atoll_registry::audit::refused_entry_key(&entry.payload_id()),
    );
    r.subject = Some(entry.app_ref().to_string());
    if reason.provable_by_signer() {
        r.attributed_to = Some(entry.publisher);
    }
    match ctx.port.refuse_entry(entry, &r).await {
        Ok(done) => {
            ctx.note(r, &reason, done.recorded);
            ctx.fetcher.node().drop_blobs(&done.orphaned).await;
            JobOutcome::Rejected(reason, done.new_head.map(Box::new))
        }
        Err(e) => {
            tracing::warn!(app = %entry.app_ref(), error = %e, "catalog did not take the refusal");
            ctx.note(r, &reason, true);
            JobOutcome::Rejected(reason, None)
        }
    }
}

/// A source sent bad bytes for a blob: record it once per (blob, source).
async fn reject_source(ctx: &JobCtx, reason: &Reason) {
    let source = reason
        .blamed()
        .cloned()
        .unwrap_or(RejectionSource::BlobStage);
    let mut r = Rejection::new(reason, source.clone());
    r.key = match reason {
        Reason::BlobCorrupt { hash, .. } | Reason::BlobSize { hash, .. } => {
            Some(atoll_registry::audit::key(
                reason.code(),
                &[hash.as_bytes(), source.to_string().as_bytes()],
            ))
        }
        _ => None,
    };
    ctx.reject(r, reason, false).await;
}

async fn fetch(
    ctx: &JobCtx,
    want: &BlobRef,
    sources: &[BlobSource],
    progress: &ProgressSender,
    (kind, name): (&str, &str),
) -> Result<(), Step> {
    let progress = progress.blob(want.hash, want.size, kind, name);
    match ctx
        .fetcher
        .fetch_reporting(want, sources, &ctx.cancel, &progress)
        .await
    {
        Ok(out) => {
            // Named by this entry: if a refused one had named it too, keep it now.
            ctx.fetcher.node().keep(&want.hash);
            for reason in &out.rejected {
                reject_source(ctx, reason).await;
            }
            if out.source != "local" {
                ctx.counters.blob_fetched(out.bytes);
            }
            Ok(())
        }
        Err(FetchError::Unavailable {
            hash,
            tried,
            rejected,
        }) => {
            for reason in &rejected {
                reject_source(ctx, reason).await;
            }
            Err(JobOutcome::Unavailable(BlobsUnavailable::Sources { hash, tried }).into())
        }
        Err(FetchError::Size(reason)) => Err(Step::Refuse(reason)),
        Err(FetchError::Cancelled) => Err(JobOutcome::Cancelled.into()),
    }
}

/// Why a job stopped early.
enum Step {
    /// It ended without a verdict on the entry (unavailable, cancelled).
    End(JobOutcome),
    /// The entry's blobs make it invalid.
    Refuse(Reason),
}

impl From<JobOutcome> for Step {
    fn from(o: JobOutcome) -> Self {
        Self::End(o)
    }
}

/// `Err(reason)`: the entry is refused for its blobs.
async fn run_inner(ctx: &JobCtx, input: &JobInput) -> Result<JobOutcome, Reason> {
    match stages(ctx, input).await {
        Ok(()) => Ok(JobOutcome::Accepted),
        Err(Step::End(outcome)) => Ok(outcome),
        Err(Step::Refuse(reason)) => Err(reason),
    }
}

async fn stages(ctx: &JobCtx, input: &JobInput) -> Result<(), Step> {
    let entry = &input.entry;
    let progress = &input.progress;
    fetch(
        ctx,
        &entry.manifest,
        &input.manifest_sources,
        progress,
        ("manifest", ""),
    )
    .await?;
    let bytes = ctx
        .fetcher
        .node()
        .get_bytes(&entry.manifest.hash, MAX_MANIFEST_BYTES)
        .await
        .map_err(|e| JobOutcome::Unavailable(BlobsUnavailable::Store(e)))?;
    let manifest =
        Manifest::from_blob(&bytes).map_err(|e| Step::Refuse(Reason::manifest_policy(e)))?;
    consistent(entry, &manifest).map_err(|why| Step::Refuse(Reason::ManifestMismatch(why)))?;
    if let Err(e) = ctx.port.attach_manifest(&manifest).await {
        tracing::warn!(app = %entry.app_ref(), error = %e, "catalog did not take the manifest");
    }
    let mut held = vec![entry.manifest.hash];
    let mut complete = true;
    for (artifact, sources) in &input.artifacts {
        if artifact.kind == ArtifactKind::Image && !input.images {
            complete = false;
            continue;
        }
        let kind = match artifact.kind {
            ArtifactKind::Icon => "icon",
            ArtifactKind::Image => "image",
            ArtifactKind::Screenshot => "screenshot",
        };
        fetch(
            ctx,
            &artifact.blob,
            sources,
            progress,
            (kind, &artifact.path),
        )
        .await?;
        held.push(artifact.blob.hash);
    }
    if complete {
        if let Err(e) = ctx.port.entry_ready(entry).await {
            tracing::warn!(app = %entry.app_ref(), error = %e, "catalog did not mark the entry ready");
        }
    }
    ctx.counters.entries_accepted(1);
    tracing::info!(app = %entry.app_ref(), version = %entry.version, blobs = held.len(), "entry accepted");
    let own = entry.origin.node_id.as_deref() == Some(ctx.fetcher.node().node_id_hex().as_str());
    if ctx.mirror && !own {
        announce(ctx, entry, held).await;
    }
    Ok(())
}

/// Check the manifest against the entry that names it.
pub(crate) fn consistent(entry: &Entry, manifest: &Manifest) -> Result<(), ManifestMismatch> {
    if manifest.id != entry.app.as_str() {
        return Err(ManifestMismatch::App {
            entry: entry.app.as_str().to_owned(),
            manifest: manifest.id.clone(),
        });
    }
    if manifest.version != entry.version {
        return Err(ManifestMismatch::Version {
            entry: entry.version.to_string(),
            manifest: manifest.version.to_string(),
        });
    }
    for (rel, kind) in manifest.local_files() {
        if !entry
            .artifacts
            .iter()
            .any(|a| a.path == rel && a.kind == kind)
        {
            return Err(ManifestMismatch::MissingArtifact(rel));
        }
    }
    Ok(())
}

/// Publish a signed mirror announcement for `blobs`.
pub(crate) async fn announce(ctx: &JobCtx, entry: &Entry, blobs: Vec<Hash>) {
    let a = MirrorAnnouncement {
        kind: MirrorType,
        node: ctx.node_key.did(),
        addrs: ctx
            .fetcher
            .node()
            .addrs()
            .iter()
            .map(|a| a.to_string())
            .collect(),
        relays: ctx.fetcher.node().relay_urls(),
        manifest: entry.manifest.hash,
        blobs,
        announced_at_ms: crate::now_millis(),
    };
    let result = async {
        let envelope = Envelope::sign(&a, ctx.node_key.keypair()).map_err(|e| e.to_string())?;
        let verified = envelope
            .verify::<MirrorAnnouncement>()
            .map_err(|e| e.to_string())?;
        let keys = ctx.node_key.nostr_keys().map_err(|e| e.to_string())?;
        let object = Object::Mirror(verified);
        let at = ctx
            .relays
            .next_created_at(&keys.public_key(), &object.d_tag().to_string())
            .await;
        let event = codec::encode(&object, &keys, Some(at)).map_err(|e| e.to_string())?;
        ctx.relays.publish(&event).await.map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(report) => {
            tracing::debug!(app = %entry.app_ref(), relays = report.accepted.len(), "mirror announced")
        }
        Err(e) => tracing::warn!(app = %entry.app_ref(), error = %e, "cannot announce the mirror"),
    }
}

//! Honest fetch progress: which blob, how many of its bytes are held, from which source and
//! over which path (direct or relayed for iroh), and when a source stalls or fails. The
//! fetcher reports into a [`ProgressSender`]; whoever asked for the fetch (an install job)
//! turns the [`FetchProgress`] events into what people see.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use atoll_registry::Hash;
use serde::Serialize;
use tokio::sync::mpsc;

use super::fetch::{BlobSource, SourceKind};

/// What one blob's fetch is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FetchState {
    /// Already complete in the local store: nothing moved.
    Held,
    /// Dialling a source.
    Connecting,
    /// Verified bytes are arriving from a source.
    Fetching,
    /// The source sent nothing for the stall timeout: left for the next source.
    Stalled,
    /// The source failed (unreachable, corrupt, too large, …): left for the next source.
    Failed,
    /// The blob is complete and verified.
    Done,
}

/// How the bytes of a source reach this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FetchPath {
    /// An iroh connection on a direct IP path (also after a hole punch).
    Direct,
    /// An iroh connection through an iroh relay server.
    Relayed,
    /// An HTTPS origin.
    Https,
}

impl FetchPath {
    /// `direct`, `relayed` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Relayed => "relayed",
            Self::Https => "https",
        }
    }
}

/// One progress event of one blob.
#[derive(Debug, Clone, Serialize)]
pub struct FetchProgress {
    /// The blob.
    pub blob: Hash,
    /// What it is to the entry: `manifest`, or the artifact kind (`image`, `icon`, …).
    pub kind: String,
    /// The artifact's path in the app (empty for the manifest).
    pub name: String,
    /// Bytes of the blob held now (never goes down for one blob): over iroh, verified
    /// chunk by chunk as they arrive; from HTTPS, received (verified when complete).
    pub fetched: u64,
    /// The blob's signed size.
    pub total: u64,
    /// What is happening.
    pub state: FetchState,
    /// The source, as people read it: `origin 3fa2b1c0…`, `mirror 9e01d2f3…`,
    /// `https https://cdn.example/blobs` (none while the blob is held locally).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The source's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_kind: Option<SourceKind>,
    /// Its full node id (hex), for iroh sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The path the bytes take, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<FetchPath>,
    /// Why a source stalled or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where fetch progress goes. Sending never blocks and never fails; [`ProgressSender::none`]
/// drops everything. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ProgressSender {
    tx: Option<mpsc::UnboundedSender<FetchProgress>>,
}

impl ProgressSender {
    /// A sender that drops everything.
    pub fn none() -> Self {
        Self { tx: None }
    }

    /// A sender and the receiver of its events.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<FetchProgress>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx: Some(tx) }, rx)
    }

    /// The reporter of one blob (`kind` and `name` as [`FetchProgress`] names them).
    pub fn blob(&self, blob: Hash, total: u64, kind: &str, name: &str) -> BlobProgress {
        BlobProgress {
            tx: self.tx.clone(),
            blob,
            total,
            kind: kind.to_owned(),
            name: name.to_owned(),
            held: Arc::new(AtomicU64::new(0)),
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Smallest step between two `fetching` events of one blob.
const MIN_STEP: u64 = 64 * 1024;
/// `fetching` events per blob, at most (about one per percent).
const STEPS: u64 = 100;

/// The reporter of one blob's fetch: keeps its byte count monotonic and emits `fetching`
/// events by byte steps (about one per percent of the blob, at least 64 KiB apart), so a
/// large blob shows movement however fast it arrives, and a fast one does not flood.
#[derive(Debug, Clone)]
pub struct BlobProgress {
    tx: Option<mpsc::UnboundedSender<FetchProgress>>,
    blob: Hash,
    total: u64,
    kind: String,
    name: String,
    held: Arc<AtomicU64>,
    next: Arc<AtomicU64>,
}

impl BlobProgress {
    /// A reporter that reports nothing (a fetch nobody follows).
    pub fn silent(blob: Hash, total: u64) -> Self {
        ProgressSender::none().blob(blob, total, "", "")
    }

    /// Bytes held so far (as last reported).
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    fn event(&self, state: FetchState, at: Option<&BlobSource>) -> FetchProgress {
        FetchProgress {
            blob: self.blob,
            kind: self.kind.clone(),
            name: self.name.clone(),
            fetched: self.held(),
            total: self.total,
            state,
            source: at.map(BlobSource::label),
            source_kind: at.map(|s| s.kind),
            source_id: at.and_then(|s| s.node).map(|n| hex::encode(n.as_bytes())),
            path: None,
            detail: None,
        }
    }

    fn send(&self, p: FetchProgress) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(p);
        }
    }

    /// Raise the held count to `bytes` (capped at the total; never lowered).
    fn raise(&self, bytes: u64) -> u64 {
        let bytes = bytes.min(self.total);
        self.held.fetch_max(bytes, Ordering::SeqCst).max(bytes)
    }

    /// The blob was complete locally before any source was asked.
    pub fn held_locally(&self) {
        self.raise(self.total);
        self.send(self.event(FetchState::Held, None));
    }

    /// Dialling `source`; `local` bytes of the blob are held already.
    pub fn connecting(&self, source: &BlobSource, local: u64) {
        self.raise(local);
        self.send(self.event(FetchState::Connecting, Some(source)));
    }

    /// `bytes` of the blob are held now, from `source` over the path `path` tells (asked
    /// only when an event goes out). Emits an event when the count passed the next step
    /// (or reached the total).
    pub fn bytes(&self, source: &BlobSource, bytes: u64, path: impl FnOnce() -> Option<FetchPath>) {
        let held = self.raise(bytes);
        let step = (self.total / STEPS).max(MIN_STEP);
        let next = self.next.load(Ordering::SeqCst);
        if held < next && held < self.total {
            return;
        }
        self.next.store(held.saturating_add(step), Ordering::SeqCst);
        let mut p = self.event(FetchState::Fetching, Some(source));
        p.path = path();
        self.send(p);
    }

    /// `source` is left: it stalled (`stalled`) or failed, for `why`.
    pub fn left(&self, source: &BlobSource, path: Option<FetchPath>, stalled: bool, why: &str) {
        let state = if stalled {
            FetchState::Stalled
        } else {
            FetchState::Failed
        };
        let mut p = self.event(state, Some(source));
        p.path = path;
        p.detail = Some(why.to_owned());
        self.send(p);
    }

    /// The blob is complete and verified, from `source` over `path`.
    pub fn done(&self, source: &BlobSource, path: Option<FetchPath>) {
        self.raise(self.total);
        let mut p = self.event(FetchState::Done, Some(source));
        p.path = path;
        self.send(p);
    }
}

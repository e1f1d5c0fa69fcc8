//! [`Discovery`]: one node's swarm sync, wired together — embedded relay, relay pool,
//! iroh endpoint + blob store, and the pipeline actor.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use atoll_registry::{Entry, Hash, Verified};
use nostr_sdk::{Event, Keys};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::blobs::{BlobNode, BlobNodeError, FailedAttempt, Fetcher, ProgressSender};
use crate::codec::{self, EncodeError, Object};
use crate::config::DiscoveryConfig;
use crate::https::{HttpsError, HttpsOrigin};
use crate::identity::{NodeKey, NodeKeyError};
use crate::pipeline::{Ingested, JobCtx, Pipeline, PipelineCommand, PipelineStatus};
use crate::port::CatalogPort;
use crate::reject::{CounterSnapshot, Counters, Reason, Rejection};
use crate::relay::{
    EmbeddedRelay, EmbeddedRelayError, PublishError, PublishReport, RelayPool, RelayPoolError,
    RelaySource, RelayState,
};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryStartError {
    /// The node key.
    #[error(transparent)]
    NodeKey(#[from] NodeKeyError),
    /// The embedded relay.
    #[error(transparent)]
    EmbeddedRelay(#[from] EmbeddedRelayError),
    /// The relay pool.
    #[error(transparent)]
    Relays(#[from] RelayPoolError),
    /// The iroh endpoint or blob store.
    #[error(transparent)]
    Blobs(#[from] BlobNodeError),
    /// The HTTPS client.
    #[error(transparent)]
    Https(#[from] HttpsError),
}

/// Why an announcement failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnnounceError {
    /// The event could not be made.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// No relay took it.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Why an entry's blobs could not be fetched on demand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchEntryError {
    /// The entry's blobs or manifest were refused.
    #[error("{0}")]
    Refused(Reason),
    /// No source delivered a blob (yet).
    #[error("unavailable: {0}")]
    Unavailable(#[source] BlobsUnavailable),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
}

/// Why an entry's blobs are not (yet) all held: worth trying again later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobsUnavailable {
    /// No source delivered a blob.
    #[error("blob {hash}: {}", tried_text(.tried))]
    Sources {
        /// The blob.
        hash: Hash,
        /// What each source said.
        tried: Vec<FailedAttempt>,
    },
    /// The local store could not hand out the manifest bytes.
    #[error(transparent)]
    Store(BlobNodeError),
}

fn strings(addrs: Vec<std::net::SocketAddr>) -> Vec<String> {
    addrs.iter().map(ToString::to_string).collect()
}

fn tried_text(tried: &[FailedAttempt]) -> String {
    if tried.is_empty() {
        "no source known yet".to_owned()
    } else {
        crate::blobs::joined(tried)
    }
}

/// Everything `atoll sync status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    /// The iroh node id (hex).
    pub node_id: String,
    /// The direct addresses it names in entries and announcements (= `iroh.advertised`).
    pub blob_addrs: Vec<String>,
    /// The iroh endpoint: bind, advertised addresses, relays and home-relay state.
    pub iroh: IrohStatus,
    /// The embedded relay's URL, if it runs.
    pub embedded_relay: Option<String>,
    /// Every relay.
    pub relays: Vec<RelayState>,
    /// Pipeline counters.
    pub counters: CounterSnapshot,
    /// Blob queue.
    pub pipeline: PipelineStatus,
    /// The newest rejections (at most 64).
    pub recent_rejections: Vec<Rejection>,
}

/// The iroh endpoint as `atoll sync status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IrohStatus {
    /// The sockets the endpoint is bound to.
    pub bound: Vec<String>,
    /// The direct addresses entries and mirror announcements carry.
    pub advertised: Vec<String>,
    /// The configured iroh relay servers (named in entries and announcements).
    pub relays: Vec<String>,
    /// The endpoint's home relays, connected or not (empty without relays, or until the
    /// endpoint picked one).
    pub home_relays: Vec<crate::blobs::HomeRelay>,
    /// n0's relays (unless `relays` is set) and address lookup are on.
    pub internet: bool,
}

struct Inner {
    node_key: NodeKey,
    blobs: BlobNode,
    relays: RelayPool,
    embedded: Option<EmbeddedRelay>,
    commands: mpsc::Sender<PipelineCommand>,
    counters: Counters,
    recent: Arc<Mutex<VecDeque<Rejection>>>,
    cancel: CancellationToken,
    actor: Mutex<Option<JoinHandle<()>>>,
}

/// A running discovery node. Cheap to clone; [`Discovery::shutdown`] stops it.
#[derive(Clone)]
pub struct Discovery {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("node_id", &self.inner.blobs.node_id_hex())
            .finish()
    }
}

impl Discovery {
    /// Start a node: node key, embedded relay (if configured), iroh endpoint and store,
    /// relay sessions and the pipeline, storing into `port`.
    pub async fn start(
        cfg: DiscoveryConfig,
        port: Arc<dyn CatalogPort>,
    ) -> Result<Self, DiscoveryStartError> {
        let node_key = NodeKey::load_or_create(&cfg.data_dir)?;
        let cancel = CancellationToken::new();
        let embedded = match &cfg.embedded_relay {
            Some(e) => Some(EmbeddedRelay::start(e, &cfg.data_dir.join("relay")).await?),
            None => None,
        };
        let mut urls: Vec<(String, RelaySource)> = embedded
            .iter()
            .map(|e| (e.url().to_owned(), RelaySource::Embedded))
            .collect();
        urls.extend(cfg.relays.iter().map(|u| (u.clone(), RelaySource::Config)));
        urls.extend(
            cfg.operator_relays
                .iter()
                .map(|u| (u.clone(), RelaySource::Operator)),
        );
        let blobs = BlobNode::spawn_with_gc(
            &cfg.iroh,
            &cfg.data_dir.join("blobs"),
            node_key.iroh_secret(),
            cfg.mirror,
            cfg.blob_gc_interval,
            &cfg.protocols,
        )
        .await?;
        let https = match (cfg.https_origins, &cfg.https_roots) {
            (false, _) => None,
            (true, None) => Some(HttpsOrigin::new(cfg.data_dir.join("tmp"))?),
            (true, Some(roots)) => Some(HttpsOrigin::with_roots(
                cfg.data_dir.join("tmp"),
                roots.clone(),
            )?),
        };
        let (tx, rx) = mpsc::channel(4096);
        let relays = RelayPool::start(
            &cfg.data_dir.join("nostr"),
            &urls,
            cfg.negentropy,
            cfg.reconnect.clone(),
            port.clone(),
            tx,
            cancel.child_token(),
        )
        .await?;
        let counters = Counters::default();
        let recent = Arc::new(Mutex::new(VecDeque::new()));
        let ctx = JobCtx {
            port,
            counters: counters.clone(),
            fetcher: Fetcher::new(blobs.clone(), https, cfg.fetch.clone()),
            relays: relays.clone(),
            node_key: node_key.clone(),
            mirror: cfg.mirror,
            recent: recent.clone(),
            cancel: cancel.child_token(),
        };
        let pipeline = Pipeline::new(ctx, cfg.https_origins, cfg.prefetch_images, cfg.fetch);
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let actor = tokio::spawn(pipeline.run(rx, cmd_rx, cancel.child_token()));
        tracing::info!(node = %blobs.node_id_hex(), relays = urls.len(), "discovery node up");
        Ok(Self {
            inner: Arc::new(Inner {
                node_key,
                blobs,
                relays,
                embedded,
                commands: cmd_tx,
                counters,
                recent,
                cancel,
                actor: Mutex::new(Some(actor)),
            }),
        })
    }

    /// The iroh node id (hex).
    pub fn node_id(&self) -> String {
        self.inner.blobs.node_id_hex()
    }

    /// The node key (signs mirror announcements).
    pub fn node_key(&self) -> &NodeKey {
        &self.inner.node_key
    }

    /// The blob node (endpoint + store).
    pub fn blobs(&self) -> &BlobNode {
        &self.inner.blobs
    }

    /// The relay pool.
    pub fn relays(&self) -> &RelayPool {
        &self.inner.relays
    }

    /// The embedded relay's URL, if it runs.
    pub fn embedded_relay_url(&self) -> Option<String> {
        self.inner.embedded.as_ref().map(|e| e.url().to_owned())
    }

    /// Pipeline counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.inner.counters.snapshot()
    }

    /// The newest rejections, oldest first.
    pub fn recent_rejections(&self) -> Vec<Rejection> {
        self.inner
            .recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Everything `atoll sync status` shows.
    pub async fn status(&self) -> SyncStatus {
        let (reply, rx) = oneshot::channel();
        let pipeline = match self
            .inner
            .commands
            .send(PipelineCommand::Status { reply })
            .await
        {
            Ok(()) => rx.await.unwrap_or_default(),
            Err(_) => PipelineStatus::default(),
        };
        SyncStatus {
            node_id: self.node_id(),
            blob_addrs: self
                .inner
                .blobs
                .addrs()
                .iter()
                .map(|a| a.to_string())
                .collect(),
            iroh: IrohStatus {
                bound: strings(self.inner.blobs.bound_sockets()),
                advertised: strings(self.inner.blobs.addrs()),
                relays: self.inner.blobs.relay_urls(),
                home_relays: self.inner.blobs.home_relays(),
                internet: self.inner.blobs.internet(),
            },
            embedded_relay: self.embedded_relay_url(),
            relays: self.inner.relays.states(),
            counters: self.counters(),
            pipeline,
            recent_rejections: self.recent_rejections(),
        }
    }

    /// Sign `object` into an event with `keys` and send it to every relay.
    pub async fn announce(
        &self,
        object: &Object,
        keys: &Keys,
    ) -> Result<(PublishReport, Event), AnnounceError> {
        let at = self
            .inner
            .relays
            .next_created_at(&keys.public_key(), &object.d_tag().to_string())
            .await;
        let event = codec::encode(object, keys, Some(at))?;
        let report = self.inner.relays.publish(&event).await?;
        Ok((report, event))
    }

    /// Run one event through the pipeline now (as if `source` had delivered it).
    pub async fn ingest_event(&self, event: Event, source: &str) -> Ingested {
        let (reply, rx) = oneshot::channel();
        let cmd = PipelineCommand::Ingest {
            event: Box::new(event),
            source: source.to_owned(),
            reply,
        };
        if self.inner.commands.send(cmd).await.is_err() {
            return Ingested::Deferred;
        }
        rx.await.unwrap_or(Ingested::Deferred)
    }

    /// Fetch every blob of an entry, image archives included (before an install).
    pub async fn fetch_entry(&self, entry: &Verified<Entry>) -> Result<(), FetchEntryError> {
        self.fetch_entry_reporting(entry, ProgressSender::none())
            .await
    }

    /// [`Discovery::fetch_entry`], reporting each blob's progress to `progress`: held
    /// locally, or bytes of the total from which source over which path, sources that
    /// stalled or failed and were left, done (see [`crate::blobs::FetchProgress`]).
    pub async fn fetch_entry_reporting(
        &self,
        entry: &Verified<Entry>,
        progress: ProgressSender,
    ) -> Result<(), FetchEntryError> {
        let (reply, rx) = oneshot::channel();
        let cmd = PipelineCommand::FetchEntry {
            entry: Box::new(entry.clone()),
            progress,
            reply,
        };
        self.inner
            .commands
            .send(cmd)
            .await
            .map_err(|_| FetchEntryError::Stopped)?;
        rx.await.map_err(|_| FetchEntryError::Stopped)?
    }

    /// Stop everything: the pipeline, the relay sessions, the embedded relay, the
    /// endpoint and the store. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let actor = self.inner.actor.lock().ok().and_then(|mut a| a.take());
        if let Some(actor) = actor {
            let _ = actor.await;
        }
        self.inner.relays.shutdown().await;
        if let Some(e) = &self.inner.embedded {
            e.shutdown();
        }
        self.inner.blobs.shutdown().await;
        tracing::info!(node = %self.node_id(), "discovery node stopped");
    }
}

//! One iroh endpoint and one iroh-blobs file store per node, served through a router.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use atoll_registry::Hash;
use bytes::Bytes;
use futures_util::StreamExt;
use iroh::endpoint::presets;
use iroh::protocol::{AcceptError, DynProtocolHandler, ProtocolHandler, Router};
use iroh::{Endpoint, EndpointId, RelayConfig, RelayMap, RelayMode, RelayUrl, SecretKey, Watcher};
use iroh_blobs::api::blobs::BlobStatus;
use iroh_blobs::provider::events::{
    AbortReason, EventMask, EventSender, ProviderMessage, RequestMode,
};
use iroh_blobs::store::fs::options::Options;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::{GcConfig, ProtectCb, ProtectOutcome};
use iroh_blobs::BlobsProtocol;

use super::limit::{Capped, ConnectionLimits};
use super::to_iroh;
use crate::config::IrohConfig;

/// Why the blob node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobNodeError {
    /// The store could not be opened (another process may hold it).
    #[error("cannot open the blob store in {path}: {detail}")]
    Store {
        /// Its directory.
        path: String,
        /// Why.
        detail: String,
    },
    /// The endpoint could not bind.
    #[error("cannot bind the iroh endpoint to {addr}: {detail}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        detail: String,
    },
    /// A configured iroh relay URL is not one.
    #[error("iroh relay URL {url:?}: {detail}")]
    RelayUrl {
        /// The URL (shortened).
        url: String,
        /// Why.
        detail: String,
    },
    /// A store operation failed.
    #[error("blob store: {0}")]
    Io(String),
    /// The blob is not complete in the store.
    #[error("blob {0} is not in the store")]
    Missing(Hash),
    /// The blob is larger than the caller allows.
    #[error("blob {hash} is {size} bytes, more than {max}")]
    TooLarge {
        /// The blob.
        hash: Hash,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
}

/// One home relay of the endpoint and its state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HomeRelay {
    /// Its URL.
    pub url: String,
    /// Connected now.
    pub connected: bool,
    /// The last connection error, if the last attempt failed.
    pub last_error: Option<String>,
}

/// Parse the configured relay URLs, in their order.
fn parse_relays(urls: &[String]) -> Result<Vec<RelayUrl>, BlobNodeError> {
    urls.iter()
        .map(|url| {
            super::parse_relay_url(url).map_err(|detail| BlobNodeError::RelayUrl {
                url: url.chars().take(80).collect(),
                detail,
            })
        })
        .collect()
}

/// The relay map of `urls`; `None` for none. A plain `http://` relay (a dev or test relay)
/// has no TLS and so no QUIC address discovery: it is not probed for it; `https://` relays
/// are, on the default QUIC port.
fn relay_map(urls: &[RelayUrl]) -> Option<RelayMap> {
    (!urls.is_empty()).then(|| {
        urls.iter()
            .map(|u| match u.scheme() {
                "https" => RelayConfig::from(u.clone()),
                _ => RelayConfig::new(u.clone(), None),
            })
            .collect()
    })
}

/// Which blobs the node serves to others.
#[derive(Debug, Clone)]
enum Serving {
    /// Every complete blob in the store (mirroring on).
    All,
    /// Only these (its own publications; mirroring off).
    Only(Arc<RwLock<HashSet<iroh_blobs::Hash>>>),
}

/// Blobs the node dropped (only refused entries named them): never served, deleted
/// from the store by its next garbage collection.
type Dropped = Arc<RwLock<HashSet<iroh_blobs::Hash>>>;

/// A protocol the node's endpoint serves besides iroh-blobs, registered by whoever
/// starts the node (the binary's remote admin channel): discovery only routes its ALPN.
#[derive(Clone)]
pub struct ExtraProtocol {
    /// Its ALPN.
    pub alpn: Vec<u8>,
    /// What serves its connections.
    pub handler: Arc<dyn DynProtocolHandler>,
}

impl ExtraProtocol {
    /// Serve `handler` on `alpn`.
    pub fn new(alpn: &[u8], handler: impl ProtocolHandler) -> Self {
        Self {
            alpn: alpn.to_vec(),
            handler: Arc::new(handler),
        }
    }
}

impl std::fmt::Debug for ExtraProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraProtocol")
            .field("alpn", &String::from_utf8_lossy(&self.alpn))
            .finish()
    }
}

/// An [`ExtraProtocol`]'s shared handler as the router takes it.
#[derive(Debug)]
struct Shared(Arc<dyn DynProtocolHandler>);

impl ProtocolHandler for Shared {
    async fn accept(&self, connection: iroh::endpoint::Connection) -> Result<(), AcceptError> {
        self.0.accept(connection).await
    }

    async fn shutdown(&self) {
        self.0.shutdown().await;
    }
}

/// How often the store deletes dropped blobs, by default.
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(60);

/// The node's endpoint + store + router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobNode {
    endpoint: Endpoint,
    store: FsStore,
    router: Router,
    serving: Serving,
    dropped: Dropped,
    /// `IrohConfig::advertise`.
    advertise: Arc<Vec<SocketAddr>>,
    /// `IrohConfig::relays`, parsed.
    relays: Arc<Vec<RelayUrl>>,
    /// `IrohConfig::internet`.
    internet: bool,
}

impl BlobNode {
    /// Open the store in `dir`, bind the endpoint and start serving.
    ///
    /// Offline unless `cfg.internet`: `presets::Minimal`, no relay servers, no address
    /// lookup, bound to `cfg.bind` only. Dropped blobs are deleted every
    /// [`DEFAULT_GC_INTERVAL`].
    pub async fn spawn(
        cfg: &IrohConfig,
        dir: &Path,
        secret: SecretKey,
        serve_all: bool,
    ) -> Result<Self, BlobNodeError> {
        Self::spawn_with_gc(cfg, dir, secret, serve_all, DEFAULT_GC_INTERVAL, &[]).await
    }

    /// [`Self::spawn`], deleting dropped blobs every `gc_interval`, and serving the
    /// `extra` protocols on the endpoint too.
    pub async fn spawn_with_gc(
        cfg: &IrohConfig,
        dir: &Path,
        secret: SecretKey,
        serve_all: bool,
        gc_interval: Duration,
        extra: &[ExtraProtocol],
    ) -> Result<Self, BlobNodeError> {
        let dropped: Dropped = Arc::new(RwLock::new(HashSet::new()));
        let handle: Arc<OnceLock<iroh_blobs::api::Store>> = Arc::new(OnceLock::new());
        let mut options = Options::new(dir);
        options.gc = Some(GcConfig {
            interval: gc_interval,
            add_protected: Some(protect_all_but_dropped(handle.clone(), dropped.clone())),
        });
        let store = FsStore::load_with_opts(dir.join("blobs.db"), options)
            .await
            .map_err(|e| BlobNodeError::Store {
                path: dir.display().to_string(),
                detail: e.to_string(),
            })?;
        let _ = handle.set(std::ops::Deref::deref(&store).clone());
        let relay_urls = parse_relays(&cfg.relays)?;
        let relays = relay_map(&relay_urls);
        let builder = if cfg.internet {
            Endpoint::builder(presets::N0)
        } else {
            Endpoint::builder(presets::Minimal).clear_address_lookup()
        };
        // Self-hosted relays replace n0's (internet) or none (offline). A node without
        // relays of its own keeps the relay transport with an empty map: it has no home
        // relay, but dials the relays that origins and mirrors name.
        let builder = match (&relays, cfg.internet) {
            (Some(map), _) => builder.relay_mode(RelayMode::Custom(map.clone())),
            (None, true) => builder,
            (None, false) => builder.relay_mode(RelayMode::Custom(RelayMap::empty())),
        };
        let builder = cfg
            .advertise
            .iter()
            .fold(builder, |b, a| b.external_addr(*a));
        let bind_err = |detail: String| BlobNodeError::Bind {
            addr: cfg.bind,
            detail,
        };
        let endpoint = builder
            .secret_key(secret)
            .clear_ip_transports()
            .bind_addr(cfg.bind)
            .map_err(|e| bind_err(e.to_string()))?
            .bind()
            .await
            .map_err(|e| bind_err(e.to_string()))?;
        let serving = if serve_all {
            Serving::All
        } else {
            Serving::Only(Arc::new(RwLock::new(HashSet::new())))
        };
        let events = serve_policy(serving.clone(), dropped.clone());
        let protocol = BlobsProtocol::new(&store, Some(events));
        let mut router = Router::builder(endpoint.clone()).accept(
            iroh_blobs::ALPN,
            Capped::new(protocol, ConnectionLimits::default()),
        );
        for p in extra {
            router = router.accept(p.alpn.clone(), Shared(p.handler.clone()));
        }
        let router = router.spawn();
        tracing::info!(
            node = %endpoint.id().fmt_short(),
            bound = ?endpoint.bound_sockets(),
            advertise = ?cfg.advertise,
            relays = ?cfg.relays,
            "iroh endpoint up"
        );
        Ok(Self {
            endpoint,
            store,
            router,
            serving,
            dropped,
            advertise: Arc::new(cfg.advertise.clone()),
            relays: Arc::new(relay_urls),
            internet: cfg.internet,
        })
    }

    /// Drop blobs that only refused entries named: they are not served from now on, and
    /// the store deletes them at its next garbage collection. Blobs this node added
    /// itself (its own publications, tagged) are never deleted.
    pub async fn drop_blobs(&self, hashes: &[Hash]) {
        if hashes.is_empty() {
            return;
        }
        if let Ok(mut d) = self.dropped.write() {
            d.extend(hashes.iter().map(to_iroh));
        }
        tracing::debug!(blobs = hashes.len(), "blobs dropped");
    }

    /// A blob is wanted again (a good entry names it): keep it.
    pub fn keep(&self, hash: &Hash) {
        if let Ok(mut d) = self.dropped.write() {
            d.remove(&to_iroh(hash));
        }
    }

    /// The node id.
    pub fn node_id(&self) -> EndpointId {
        self.endpoint.id()
    }

    /// The node id as 64 hex characters (the form entries carry).
    pub fn node_id_hex(&self) -> String {
        hex::encode(self.endpoint.id().as_bytes())
    }

    /// The direct addresses this node names in the entries it signs and in its mirror
    /// announcements: `IrohConfig::advertise` when set; else the bound sockets; for an
    /// unspecified bind (`0.0.0.0`, `[::]`) the addresses the endpoint found on its
    /// interfaces (with that bind's port) instead: at most [`crate::MAX_ADDRS`].
    pub fn addrs(&self) -> Vec<SocketAddr> {
        if !self.advertise.is_empty() {
            return self.advertise.to_vec();
        }
        let bound = self.endpoint.bound_sockets();
        let mut out: Vec<SocketAddr> = bound
            .iter()
            .copied()
            .filter(|a| !a.ip().is_unspecified())
            .collect();
        if out.len() < bound.len() {
            let ports: HashSet<u16> = bound.iter().map(SocketAddr::port).collect();
            out.extend(
                self.endpoint
                    .addr()
                    .ip_addrs()
                    .copied()
                    .filter(|a| !a.ip().is_unspecified() && ports.contains(&a.port())),
            );
            out.sort();
            out.dedup();
        }
        out.truncate(crate::MAX_ADDRS);
        out
    }

    /// The sockets the endpoint is bound to.
    pub fn bound_sockets(&self) -> Vec<SocketAddr> {
        self.endpoint.bound_sockets()
    }

    /// The configured iroh relay servers (`IrohConfig::relays`), as entries and mirror
    /// announcements name them.
    pub fn relay_urls(&self) -> Vec<String> {
        self.relays.iter().map(|u| u.to_string()).collect()
    }

    /// n0's relays (unless relays are configured) and address lookup are on.
    pub fn internet(&self) -> bool {
        self.internet
    }

    /// The endpoint's home relays and whether each is connected now (empty without
    /// configured relays, and until the endpoint picked one).
    pub fn home_relays(&self) -> Vec<HomeRelay> {
        self.endpoint
            .home_relay_status()
            .get()
            .into_iter()
            .map(|s| HomeRelay {
                url: s.url().to_string(),
                connected: s.is_connected(),
                last_error: s.last_error().map(|e| e.to_string()),
            })
            .collect()
    }

    /// Wait until the endpoint is connected to a home relay (returns at once if it is).
    /// Never returns without configured relays: bound it with a timeout.
    pub async fn home_relay_connected(&self) {
        self.endpoint.online().await;
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The store.
    pub fn store(&self) -> &FsStore {
        &self.store
    }

    /// Add bytes; they are served from now on.
    pub async fn add_bytes(&self, bytes: impl Into<Bytes>) -> Result<Hash, BlobNodeError> {
        let tag = self
            .store
            .blobs()
            .add_bytes(bytes.into())
            .await
            .map_err(|e| BlobNodeError::Io(e.to_string()))?;
        let hash = Hash::from_bytes(*tag.hash.as_bytes());
        self.serve(&hash);
        Ok(hash)
    }

    /// Add a file (streamed, hashed while read); it is served from now on.
    pub async fn add_path(&self, path: &Path) -> Result<Hash, BlobNodeError> {
        Ok(self.add_path_tagged(path).await?.0)
    }

    /// [`Self::add_path`], also returning the name of the tag that keeps it, for
    /// [`Self::untag`] if the publication it belongs to is refused after all.
    pub async fn add_path_tagged(&self, path: &Path) -> Result<(Hash, Vec<u8>), BlobNodeError> {
        let abs = std::path::absolute(path).map_err(|e| BlobNodeError::Io(e.to_string()))?;
        let tag = self
            .store
            .blobs()
            .add_path(abs)
            .await
            .map_err(|e| BlobNodeError::Io(e.to_string()))?;
        let hash = Hash::from_bytes(*tag.hash.as_bytes());
        self.serve(&hash);
        Ok((hash, tag.name.0.to_vec()))
    }

    /// Delete a tag [`Self::add_path_tagged`] made: its blob is no longer kept for it.
    pub async fn untag(&self, name: &[u8]) -> Result<(), BlobNodeError> {
        self.store
            .tags()
            .delete(name)
            .await
            .map(|_| ())
            .map_err(|e| BlobNodeError::Io(e.to_string()))
    }

    /// Serve this blob to others even when mirroring is off.
    pub fn serve(&self, hash: &Hash) {
        if let Serving::Only(set) = &self.serving {
            if let Ok(mut set) = set.write() {
                set.insert(to_iroh(hash));
            }
        }
    }

    /// The size of the blob if it is complete in the store.
    pub async fn complete_size(&self, hash: &Hash) -> Result<Option<u64>, BlobNodeError> {
        match self
            .store
            .blobs()
            .status(to_iroh(hash))
            .await
            .map_err(|e| BlobNodeError::Io(e.to_string()))?
        {
            BlobStatus::Complete { size } => Ok(Some(size)),
            _ => Ok(None),
        }
    }

    /// Read a complete blob of at most `max` bytes.
    pub async fn get_bytes(&self, hash: &Hash, max: u64) -> Result<Bytes, BlobNodeError> {
        let size = self
            .complete_size(hash)
            .await?
            .ok_or(BlobNodeError::Missing(*hash))?;
        if size > max {
            return Err(BlobNodeError::TooLarge {
                hash: *hash,
                size,
                max,
            });
        }
        self.store
            .blobs()
            .get_bytes(to_iroh(hash))
            .await
            .map_err(|e| BlobNodeError::Io(e.to_string()))
    }

    /// Copy a complete blob to a file.
    pub async fn export(&self, hash: &Hash, target: &Path) -> Result<u64, BlobNodeError> {
        let abs = std::path::absolute(target).map_err(|e| BlobNodeError::Io(e.to_string()))?;
        self.store
            .blobs()
            .export(to_iroh(hash), abs)
            .finish()
            .await
            .map_err(|e| BlobNodeError::Io(e.to_string()))
    }

    /// Stop serving, close the endpoint and the store.
    pub async fn shutdown(&self) {
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!(error = %e, "blob router shutdown");
        }
        self.endpoint.close().await;
        // The router's shutdown closes the store too; this is for a store still open.
        if let Err(e) = self.store.shutdown().await {
            tracing::debug!(error = %e, "blob store already shut down");
        }
    }
}

/// A provider event handler: refuse dropped blobs, and with mirroring off everything but
/// the node's own.
fn serve_policy(serving: Serving, dropped: Dropped) -> EventSender {
    let mask = EventMask {
        get: RequestMode::Intercept,
        get_many: RequestMode::Disabled,
        push: RequestMode::Disabled,
        ..EventMask::DEFAULT
    };
    let (tx, mut rx) = EventSender::channel(64, mask);
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if let ProviderMessage::GetRequestReceived(msg) = msg {
                let hash = msg.request.hash;
                let listed = match &serving {
                    Serving::All => true,
                    Serving::Only(set) => set.read().map(|s| s.contains(&hash)).unwrap_or(false),
                };
                let allowed = msg.request.ranges.is_blob()
                    && listed
                    && dropped.read().map(|d| !d.contains(&hash)).unwrap_or(false);
                let res = if allowed {
                    Ok(())
                } else {
                    Err(AbortReason::Permission)
                };
                msg.tx.send(res).await.ok();
            }
        }
    });
    tx
}

/// The store's garbage collection keeps every blob but the dropped ones (and skips its
/// run when nothing is dropped). Blobs written during a run are protected by the store.
fn protect_all_but_dropped(
    store: Arc<OnceLock<iroh_blobs::api::Store>>,
    dropped: Dropped,
) -> ProtectCb {
    Arc::new(move |live| {
        let store = store.clone();
        let dropped = dropped.clone();
        Box::pin(async move {
            let wanted: HashSet<iroh_blobs::Hash> =
                dropped.read().map(|d| d.clone()).unwrap_or_default();
            let Some(store) = store.get().cloned().filter(|_| !wanted.is_empty()) else {
                return ProtectOutcome::Abort;
            };
            // Listed in a task of its own: the callback's future must be Sync.
            let listed = tokio::spawn(async move {
                let mut all = Vec::new();
                let mut stream = store.blobs().list().stream().await?;
                while let Some(h) = stream.next().await {
                    all.push(h?);
                }
                Ok::<_, iroh_blobs::api::Error>(all)
            })
            .await;
            let Ok(Ok(all)) = listed else {
                return ProtectOutcome::Abort;
            };
            let present: HashSet<iroh_blobs::Hash> = all.iter().copied().collect();
            if let Ok(mut d) = dropped.write() {
                // Gone already (an earlier run): nothing left to refuse serving.
                d.retain(|h| present.contains(h));
            }
            live.extend(all.into_iter().filter(|h| !wanted.contains(h)));
            ProtectOutcome::Continue
        })
    })
}

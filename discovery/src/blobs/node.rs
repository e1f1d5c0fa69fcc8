//! One iroh endpoint and one iroh-blobs file store per node, served through a router.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use atoll_registry::Hash;
use bytes::Bytes;
use iroh::endpoint::presets;
use iroh::protocol::Router;
use iroh::{Endpoint, EndpointId, RelayMode, SecretKey};
use iroh_blobs::api::blobs::BlobStatus;
use iroh_blobs::provider::events::{
    AbortReason, EventMask, EventSender, ProviderMessage, RequestMode,
};
use iroh_blobs::store::fs::FsStore;
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

/// Which blobs the node serves to others.
#[derive(Debug, Clone)]
enum Serving {
    /// Every complete blob in the store (mirroring on).
    All,
    /// Only these (its own publications; mirroring off).
    Only(Arc<RwLock<HashSet<iroh_blobs::Hash>>>),
}

/// The node's endpoint + store + router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobNode {
    endpoint: Endpoint,
    store: FsStore,
    router: Router,
    serving: Serving,
}

impl BlobNode {
    /// Open the store in `dir`, bind the endpoint and start serving.
    ///
    /// Offline unless `cfg.internet`: `presets::Minimal`, no relay servers, no address
    /// lookup, bound to `cfg.bind` only.
    pub async fn spawn(
        cfg: &IrohConfig,
        dir: &Path,
        secret: SecretKey,
        serve_all: bool,
    ) -> Result<Self, BlobNodeError> {
        let store = FsStore::load(dir).await.map_err(|e| BlobNodeError::Store {
            path: dir.display().to_string(),
            detail: e.to_string(),
        })?;
        let builder = if cfg.internet {
            Endpoint::builder(presets::N0)
        } else {
            Endpoint::builder(presets::Minimal)
                .relay_mode(RelayMode::Disabled)
                .clear_address_lookup()
        };
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
        let (serving, events) = if serve_all {
            (Serving::All, None)
        } else {
            let set = Arc::new(RwLock::new(HashSet::new()));
            (Serving::Only(set.clone()), Some(only_these(set)))
        };
        let protocol = BlobsProtocol::new(&store, events);
        let router = Router::builder(endpoint.clone())
            .accept(
                iroh_blobs::ALPN,
                Capped::new(protocol, ConnectionLimits::default()),
            )
            .spawn();
        tracing::info!(node = %endpoint.id().fmt_short(), addrs = ?endpoint.bound_sockets(), "iroh endpoint up");
        Ok(Self {
            endpoint,
            store,
            router,
            serving,
        })
    }

    /// The node id.
    pub fn node_id(&self) -> EndpointId {
        self.endpoint.id()
    }

    /// The node id as 64 hex characters (the form entries carry).
    pub fn node_id_hex(&self) -> String {
        hex::encode(self.endpoint.id().as_bytes())
    }

    /// The direct addresses the endpoint is bound to.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.endpoint.bound_sockets()
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
        let abs = std::path::absolute(path).map_err(|e| BlobNodeError::Io(e.to_string()))?;
        let tag = self
            .store
            .blobs()
            .add_path(abs)
            .await
            .map_err(|e| BlobNodeError::Io(e.to_string()))?;
        let hash = Hash::from_bytes(*tag.hash.as_bytes());
        self.serve(&hash);
        Ok(hash)
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

/// A provider event handler that serves only the hashes in `set`.
fn only_these(set: Arc<RwLock<HashSet<iroh_blobs::Hash>>>) -> EventSender {
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
                let allowed = msg.request.ranges.is_blob()
                    && set
                        .read()
                        .map(|s| s.contains(&msg.request.hash))
                        .unwrap_or(false);
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

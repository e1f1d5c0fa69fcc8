//! # atoll-discovery
//!
//! The swarm: a publisher announces signed objects over Nostr (NIP-78, kind 30078) and
//! serves their blobs over iroh; every node finds, fetches, verifies and stores them by
//! itself, from the origin or from any mirror, with no central server.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn demo(catalog: Arc<dyn atoll_discovery::CatalogPort>) -> Result<(), Box<dyn std::error::Error>> {
//! use atoll_discovery::{Discovery, DiscoveryConfig, publish};
//! use atoll_registry::Keypair;
//!
//! // A node with the defaults: embedded relay on 127.0.0.1:7879, offline iroh on :7880,
//! // storing into `catalog` (the node's implementation of the port over its catalog).
//! let dir = std::path::Path::new("/tmp/atoll-demo");
//! let node = Discovery::start(DiscoveryConfig::new(dir), catalog).await?;
//!
//! // Publish an app: sign it, put its blobs in the node's store, announce it.
//! let key = Keypair::generate()?;
//! let published = publish::publish_app(
//!     &node, dir, "apps/hello-static".as_ref(), &key, "me", &Default::default(),
//! ).await?;
//! println!("{} {} on {:?}", published.app, published.version, published.relays);
//! println!("{:?}", node.status().await.counters);
//! node.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! How an event becomes an accepted entry ([`pipeline`]): event → Nostr signature →
//! envelope → DID signature and namespace ([`codec::decode`]) → catalog rules
//! ([`CatalogPort`]) → blob fetch ([`blobs::Fetcher`]: origin, then mirrors, then HTTPS)
//! → manifest policy → accepted, then the node serves the blobs and announces itself as a
//! mirror. Every rejection is recorded with a [`Reason`] and counted.
//!
//! Modules: [`codec`] the event format, [`announce`] mirror announcements, [`relay`]
//! embedded relay + relay pool with per-relay cursors, [`blobs`] iroh endpoint, store and
//! fetcher, [`https`] HTTPS origins, [`pipeline`] the verify pipeline, [`port`] what it
//! needs from the catalog (the node implements it over the SQLite catalog),
//! [`publish`] publish and yank, [`config`] settings. See `docs/discovery.md`.
#![deny(missing_docs)]

pub mod announce;
pub mod blobs;
pub mod codec;
pub mod config;
pub mod https;
pub mod identity;
pub mod mirrors;
mod node;
pub mod pipeline;
pub mod port;
pub mod publish;
pub mod reject;
pub mod relay;

pub use config::{DiscoveryConfig, EmbeddedRelayConfig, FetchLimits, IrohConfig};
pub use node::{
    AnnounceError, BlobsUnavailable, Discovery, DiscoveryStartError, FetchEntryError, IrohStatus,
    SyncStatus,
};
pub use pipeline::Ingested;
pub use port::{
    BatchFuture, CatalogPort, EntryRefusal, EntryVerdict, ObjectVerdict, OriginName, PortError,
    PortFuture, RotationVerdict, Source,
};
pub use reject::{
    AuditCategory, CounterSnapshot, Reason, Rejection, RejectionSource, SigningKeyProblem,
};

/// Most direct addresses an announcement may carry.
pub const MAX_ADDRS: usize = 16;

/// Unix seconds now.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

/// Unix milliseconds now.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

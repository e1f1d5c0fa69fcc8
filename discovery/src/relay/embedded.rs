//! The relay every node runs by default: nostr-relay-builder's `LocalRelay` over a
//! persistent LMDB database, on 127.0.0.1.

use std::path::Path;

use nostr_lmdb::NostrLMDB;
use nostr_relay_builder::builder::RateLimit;
use nostr_relay_builder::{LocalRelay, RelayBuilder};

use crate::config::EmbeddedRelayConfig;

/// LMDB map size of relay and client databases (address space, not disk).
pub const LMDB_MAP_SIZE: usize = 4 << 30;

/// Why the embedded relay did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedRelayError {
    /// The LMDB database could not be opened.
    #[error("relay database {path}: {detail}")]
    Database {
        /// Its directory.
        path: String,
        /// Why.
        detail: String,
    },
    /// The listener could not start.
    #[error("embedded relay on {addr}: {detail}")]
    Listen {
        /// Address.
        addr: String,
        /// Why.
        detail: String,
    },
}

/// A running embedded relay. It stops when [`EmbeddedRelay::shutdown`] is called or the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct EmbeddedRelay {
    relay: LocalRelay,
    url: String,
}

impl EmbeddedRelay {
    /// Open the database in `dir` and listen.
    pub async fn start(cfg: &EmbeddedRelayConfig, dir: &Path) -> Result<Self, EmbeddedRelayError> {
        std::fs::create_dir_all(dir).map_err(|e| EmbeddedRelayError::Database {
            path: dir.display().to_string(),
            detail: e.to_string(),
        })?;
        let db = NostrLMDB::builder(dir)
            .map_size(LMDB_MAP_SIZE)
            .build()
            .map_err(|e| EmbeddedRelayError::Database {
                path: dir.display().to_string(),
                detail: e.to_string(),
            })?;
        let mut builder = RelayBuilder::default()
            .addr(cfg.addr)
            .database(db)
            .rate_limit(RateLimit {
                max_reqs: 500,
                notes_per_minute: cfg.events_per_minute,
            })
            .max_filter_limit(100_000)
            .default_filter_limit(100_000);
        if cfg.port != 0 {
            builder = builder.port(cfg.port);
        }
        let relay = LocalRelay::new(builder);
        relay.run().await.map_err(|e| EmbeddedRelayError::Listen {
            addr: format!("{}:{}", cfg.addr, cfg.port),
            detail: e.to_string(),
        })?;
        let url = relay.url().await.to_string();
        tracing::info!(%url, "embedded relay up");
        Ok(Self { relay, url })
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stop listening.
    pub fn shutdown(&self) {
        self.relay.shutdown();
    }
}

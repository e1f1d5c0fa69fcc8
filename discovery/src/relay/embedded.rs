//! The relay every node runs by default: nostr-relay-builder's `LocalRelay` over a
//! persistent LMDB database, on 127.0.0.1, behind the node's own front door
//! ([`super::front`]: connection caps, message size, a `NOTICE` for malformed messages).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use nostr_lmdb::NostrLMDB;
use nostr_relay_builder::builder::RateLimit;
use nostr_relay_builder::{LocalRelay, RelayBuilder};
use tokio_util::sync::CancellationToken;

use super::front;
use crate::config::EmbeddedRelayConfig;

/// Subscriptions one connection may hold open (a node uses one, plus one per NIP-77 run).
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Most events one query returns (a whole catalog, for nodes that sync with `since`).
pub const MAX_QUERY_EVENTS: usize = 100_000;

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
    cancel: CancellationToken,
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
        let builder = RelayBuilder::default()
            .database(db)
            .rate_limit(RateLimit {
                max_reqs: MAX_SUBSCRIPTIONS,
                notes_per_minute: cfg.events_per_minute,
            })
            // A second fence behind the front's own cap.
            .max_connections(front::MAX_CONNECTIONS)
            .max_filter_limit(MAX_QUERY_EVENTS)
            .default_filter_limit(MAX_QUERY_EVENTS);
        let addr = cfg.bind;
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| EmbeddedRelayError::Listen {
                    addr: addr.to_string(),
                    detail: e.to_string(),
                })?;
        let local = listener
            .local_addr()
            .map_err(|e| EmbeddedRelayError::Listen {
                addr: addr.to_string(),
                detail: e.to_string(),
            })?;
        // The relay never listens itself: the front hands it every connection.
        let relay = LocalRelay::new(builder);
        let cancel = CancellationToken::new();
        tokio::spawn(front::serve(listener, relay.clone(), cancel.clone()));
        let url = format!("ws://{}", local_url_addr(local));
        tracing::info!(%url, "embedded relay up");
        Ok(Self { relay, url, cancel })
    }

    /// The URL this node itself connects to: `ws://<bind>`, with loopback for an
    /// unspecified bind (`0.0.0.0:7879` → `ws://127.0.0.1:7879`, `[::]` → `[::1]`), so the
    /// URL (also the key of the relay's sync cursor) stays the same whatever the bind.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stop listening and close every connection.
    pub fn shutdown(&self) {
        self.cancel.cancel();
        self.relay.shutdown();
    }
}

/// The address the node dials its own relay at: the bound one, loopback if unspecified.
fn local_url_addr(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), local.port())
        }
        _ => local,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_unspecified_bind_is_dialled_on_loopback() {
        let url = |s: &str| local_url_addr(s.parse().unwrap()).to_string();
        assert_eq!(url("0.0.0.0:7879"), "127.0.0.1:7879");
        assert_eq!(url("[::]:7879"), "[::1]:7879");
        assert_eq!(url("10.1.2.3:7879"), "10.1.2.3:7879");
    }
}

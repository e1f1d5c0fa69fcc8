//! A hostile iroh provider in process: an endpoint on 127.0.0.1 that speaks the
//! iroh-blobs ALPN and then stalls (reads the request, answers nothing) or lies without
//! end (answers every request with junk bytes until the node hangs up). It is named as
//! an entry's origin or announced as a mirror; every byte it sends is checked against the
//! BLAKE3 the publisher signed, and it is left after the stall timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use atoll_discovery::identity::NodeKey;
use iroh::endpoint::presets;
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh::{Endpoint, RelayMap, RelayMode};

/// What the provider does with a blob request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read the request, answer nothing, keep the connection open.
    Stall,
    /// Answer with junk bytes until the requester closes the stream.
    Junk,
}

/// Why the provider could not start.
#[derive(Debug, thiserror::Error)]
#[error("hostile iroh provider: binding 127.0.0.1:0: {0}")]
pub struct ProviderError(String);

/// A running hostile provider. Stops when dropped (or [`HostileProvider::shutdown`]).
pub struct HostileProvider {
    key: NodeKey,
    router: Router,
    asked: Arc<AtomicUsize>,
}

#[derive(Debug, Clone)]
struct Handler(Mode, Arc<AtomicUsize>);

impl ProtocolHandler for Handler {
    async fn accept(&self, conn: iroh::endpoint::Connection) -> Result<(), AcceptError> {
        loop {
            let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                return Ok(());
            };
            self.1.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let _ = recv.read(&mut buf).await;
            match self.0 {
                Mode::Stall => {
                    conn.closed().await;
                    return Ok(());
                }
                Mode::Junk => {
                    let junk = vec![0xa5_u8; 16 * 1024];
                    while send.write_all(&junk).await.is_ok() {}
                }
            }
        }
    }
}

impl HostileProvider {
    /// Bind an offline endpoint (no relays, no address lookup) on 127.0.0.1:0 serving
    /// `mode` on the iroh-blobs ALPN, with a fresh node key.
    pub async fn start(mode: Mode) -> Result<Self, ProviderError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ProviderError(e.to_string()))?;
        let key = NodeKey::from_seed(seed);
        let endpoint = Endpoint::builder(presets::Minimal)
            .clear_address_lookup()
            .relay_mode(RelayMode::Custom(RelayMap::empty()))
            .secret_key(key.iroh_secret())
            .clear_ip_transports()
            .bind_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(|e| ProviderError(e.to_string()))?
            .bind()
            .await
            .map_err(|e| ProviderError(e.to_string()))?;
        let asked = Arc::new(AtomicUsize::new(0));
        let router = Router::builder(endpoint)
            .accept(iroh_blobs::ALPN, Handler(mode, asked.clone()))
            .spawn();
        Ok(Self { key, router, asked })
    }

    /// Its node key (signs the mirror announcements that name it).
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// Its node id (hex), as entries and announcements name it.
    pub fn node_id(&self) -> String {
        hex::encode(self.router.endpoint().id().as_bytes())
    }

    /// The sockets it is bound to, as `IP:PORT`.
    pub fn addrs(&self) -> Vec<String> {
        self.router
            .endpoint()
            .bound_sockets()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// How many blob requests it was sent.
    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }

    /// Close the endpoint.
    pub async fn shutdown(&self) {
        let _ = self.router.shutdown().await;
    }
}

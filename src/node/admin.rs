//! The remote admin channel: an iroh protocol (ALPN [`ALPN`]) on the node's own iroh
//! endpoint that serves the node's HTTP API to the endpoint ids listed in
//! `[admin] iroh_keys`, so an operator on another host administers the node over an
//! encrypted, mutually authenticated QUIC connection and the admin token never crosses
//! a network.
//!
//! * A connection from an endpoint id not in the list is closed at once with
//!   [`REFUSED`] and a reason saying so; the node logs the refused id (a public key).
//! * Each bi-directional stream of an admitted connection carries one HTTP/1.1
//!   connection, served by the node's axum router with the same head, idle, write-stall,
//!   body and handler limits as a TCP connection. Its requests carry
//!   [`AdminPeer`]: the auth layer lets them through without the token.
//! * At most [`MAX_CONNECTIONS`] connections at once, [`MAX_STREAMS`] streams served at
//!   once per connection (more wait in QUIC's flow control), and a connection with no
//!   stream for [`IDLE_TIMEOUT`] is closed.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use atoll_discovery::blobs::ExtraProtocol;
use iroh::endpoint::{Connection, VarInt};
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::EndpointId;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::api::AdminPeer;

/// The admin channel's ALPN.
pub const ALPN: &[u8] = b"atoll/admin/1";
/// Close code: the peer's endpoint id is not in `[admin] iroh_keys`.
pub const REFUSED: VarInt = VarInt::from_u32(0x6e6f_6b65); // "noke"
/// Close code: the node is not ready, or serves as many admin connections as it may.
pub const BUSY: VarInt = VarInt::from_u32(0x6275_7379); // "busy"
/// Close code: the connection carried no stream for [`IDLE_TIMEOUT`].
pub const IDLE: VarInt = VarInt::from_u32(0x6964_6c65); // "idle"
/// The reason sent with [`REFUSED`].
pub const REFUSED_REASON: &str = "this endpoint id is not in the node's [admin] iroh_keys";
/// Admin connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Streams (HTTP connections) served at once on one admin connection.
pub const MAX_STREAMS: usize = 16;
/// A connection with no stream open for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The admin channel's protocol handler. Cheap to clone; it serves once
/// [`AdminChannel::serve`] gave it the router (connections before are closed with
/// [`BUSY`]).
#[derive(Clone)]
pub struct AdminChannel {
    inner: Arc<Inner>,
}

struct Inner {
    allowed: HashSet<EndpointId>,
    router: OnceLock<axum::Router>,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for AdminChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminChannel")
            .field("allowed", &self.inner.allowed.len())
            .finish()
    }
}

impl AdminChannel {
    /// A channel for these endpoint ids.
    pub fn new(allowed: impl IntoIterator<Item = EndpointId>) -> Self {
        Self {
            inner: Arc::new(Inner {
                allowed: allowed.into_iter().collect(),
                router: OnceLock::new(),
                slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            }),
        }
    }

    /// How many endpoint ids may use it.
    pub fn allowed(&self) -> usize {
        self.inner.allowed.len()
    }

    /// The protocol to register on the node's endpoint.
    pub fn protocol(&self) -> ExtraProtocol {
        ExtraProtocol::new(ALPN, self.clone())
    }

    /// Serve requests with `router` from now on.
    pub fn serve(&self, router: axum::Router) {
        if self.inner.router.set(router).is_err() {
            warn!("admin channel: a router was set already; keeping the first");
        }
    }
}

impl ProtocolHandler for AdminChannel {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let peer = conn.remote_id();
        if !self.inner.allowed.contains(&peer) {
            warn!(
                peer = %hex::encode(peer.as_bytes()),
                "admin channel: refused an endpoint id that is not in [admin] iroh_keys"
            );
            conn.close(REFUSED, REFUSED_REASON.as_bytes());
            return Ok(());
        }
        let Some(router) = self.inner.router.get().cloned() else {
            conn.close(BUSY, b"the node is still starting; try again");
            return Ok(());
        };
        let Ok(_slot) = self.inner.slots.clone().try_acquire_owned() else {
            warn!(peer = %peer.fmt_short(), "admin channel: too many connections; refused one");
            conn.close(BUSY, b"too many admin connections to this node");
            return Ok(());
        };
        info!(peer = %peer.fmt_short(), "admin channel: connection accepted");
        let router = router.layer(axum::Extension(AdminPeer(peer)));
        serve_streams(&conn, router).await;
        debug!(peer = %peer.fmt_short(), "admin channel: connection ended");
        Ok(())
    }
}

/// Serve the connection's streams until it closes or idles.
async fn serve_streams(conn: &Connection, router: axum::Router) {
    let streams = Arc::new(Semaphore::new(MAX_STREAMS));
    // Aborted with the connection's task (router shutdown): no stream outlives it.
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let Ok(permit) = streams.clone().acquire_owned().await else {
            return;
        };
        let (send, recv) = match tokio::time::timeout(IDLE_TIMEOUT, conn.accept_bi()).await {
            Err(_) => {
                // Only this loop's permit is out: no stream is being served.
                if streams.available_permits() + 1 == MAX_STREAMS {
                    conn.close(IDLE, b"idle");
                    return;
                }
                continue;
            }
            Ok(Err(e)) => {
                debug!(error = %e, "admin channel: connection closed");
                return;
            }
            Ok(Ok(s)) => s,
        };
        let router = router.clone();
        tasks.spawn(async move {
            let io = tokio::io::join(recv, send);
            if let Err(e) = crate::api::server::serve_io(io, router).await {
                debug!(error = %e, "admin channel: HTTP stream ended with an error");
            }
            drop(permit);
        });
    }
}

//! Bounds on who may hold the node's iroh endpoint: a cap on connections served at once,
//! and a smaller one per remote node, so that a stranger opening connections by the
//! hundred (node ids cost nothing) cannot exhaust memory or starve the peers that fetch.
//!
//! A connection over a cap is closed at once with [`BUSY`] and a short reason; the peer's
//! fetcher then moves on to its next source, as it does for any unreachable one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iroh::endpoint::{Connection, VarInt};
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::EndpointId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections served at once, from every peer together.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections served at once from one remote node.
pub const MAX_CONNECTIONS_PER_PEER: usize = 16;
/// QUIC application error code sent when a connection is refused over a cap.
pub const BUSY: VarInt = VarInt::from_u32(0x6275_7379); // "busy"

/// The caps of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections at once, in total.
    pub total: usize,
    /// Connections at once from one remote node.
    pub per_peer: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            total: MAX_CONNECTIONS,
            per_peer: MAX_CONNECTIONS_PER_PEER,
        }
    }
}

/// A protocol handler that serves `inner` within [`ConnectionLimits`].
#[derive(Debug, Clone)]
pub struct Capped<P> {
    inner: P,
    limits: ConnectionLimits,
    total: Arc<Semaphore>,
    per_peer: Arc<Mutex<HashMap<EndpointId, usize>>>,
}

impl<P> Capped<P> {
    /// Serve `inner` within `limits`.
    pub fn new(inner: P, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            limits,
            total: Arc::new(Semaphore::new(limits.total)),
            per_peer: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for one connection from `peer`, held until the slot is dropped, or why
    /// there is none.
    pub fn admit(&self, peer: EndpointId) -> Result<Slot, Refused> {
        let Ok(permit) = self.total.clone().try_acquire_owned() else {
            return Err(Refused::Total);
        };
        let mut peers = self.per_peer.lock().map_err(|_| Refused::Unavailable)?;
        let open = peers.entry(peer).or_insert(0);
        if *open >= self.limits.per_peer {
            return Err(Refused::PerPeer);
        }
        *open += 1;
        Ok(Slot {
            peer,
            peers: self.per_peer.clone(),
            _permit: permit,
        })
    }

    /// Remote nodes holding at least one slot now.
    pub fn peers(&self) -> usize {
        self.per_peer.lock().map(|p| p.len()).unwrap_or(0)
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Every slot of the node is taken.
    #[error("too many connections to this node")]
    Total,
    /// The remote node holds its whole share.
    #[error("too many connections from this node")]
    PerPeer,
    /// The connection table is unusable (a thread panicked while holding it).
    #[error("connection table unavailable")]
    Unavailable,
}

/// One admitted connection; dropping it frees its place under both caps.
#[derive(Debug)]
pub struct Slot {
    peer: EndpointId,
    peers: Arc<Mutex<HashMap<EndpointId, usize>>>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut peers) = self.peers.lock() {
            if let Some(open) = peers.get_mut(&self.peer) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    peers.remove(&self.peer);
                }
            }
        }
    }
}

impl<P: ProtocolHandler> ProtocolHandler for Capped<P> {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        let peer = connection.remote_id();
        match self.admit(peer) {
            Ok(_slot) => self.inner.accept(connection).await,
            Err(why) => {
                tracing::debug!(peer = %peer.fmt_short(), %why, "iroh connection refused");
                connection.close(BUSY, why.to_string().as_bytes());
                Ok(())
            }
        }
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

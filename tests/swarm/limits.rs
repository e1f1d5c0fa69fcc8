//! A stranger cannot hold the node's iroh endpoint: past its share of connections, a peer
//! is refused with `busy`, the node keeps serving, and the share comes back when the peer
//! closes a connection. Real endpoints on 127.0.0.1, real iroh-blobs transfers.

use atoll_discovery::blobs::limit::{
    Capped, ConnectionLimits, Refused, BUSY, MAX_CONNECTIONS_PER_PEER,
};
use atoll_discovery::blobs::BlobNode;
use atoll_discovery::IrohConfig;
use iroh::endpoint::{presets, ConnectionError};
use iroh::{Endpoint, EndpointAddr, RelayMode, SecretKey};
use tempfile::TempDir;

use crate::support::{init_tracing, DEADLINE};

async fn stranger() -> Endpoint {
    Endpoint::builder(presets::Minimal)
        .relay_mode(RelayMode::Disabled)
        .clear_address_lookup()
        .clear_ip_transports()
        .bind_addr("127.0.0.1:0")
        .unwrap()
        .bind()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_peer_past_its_connection_share_is_refused_busy_and_the_node_keeps_serving() {
    init_tracing();
    let dir = TempDir::new().unwrap();
    let cfg = IrohConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..IrohConfig::default()
    };
    let node = BlobNode::spawn(&cfg, dir.path(), SecretKey::generate(), true)
        .await
        .unwrap();
    let hash = node
        .add_bytes(b"served to whoever asks".to_vec())
        .await
        .unwrap();
    let mut addr = EndpointAddr::new(node.node_id());
    for a in node.addrs() {
        addr = addr.with_ip_addr(a);
    }

    let ep = stranger().await;
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_PEER {
        held.push(ep.connect(addr.clone(), iroh_blobs::ALPN).await.unwrap());
    }
    // One more from the same node: the handshake completes, then the node closes it.
    let extra = ep.connect(addr.clone(), iroh_blobs::ALPN).await.unwrap();
    let closed = within("the extra connection to be closed", extra.closed()).await;
    match closed {
        ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, BUSY);
            assert_eq!(&close.reason[..], b"too many connections from this node");
        }
        other => panic!("expected a busy close, got {other:?}"),
    }
    // The connections it holds still work, and so does another peer.
    let store_dir = TempDir::new().unwrap();
    let store = iroh_blobs::store::fs::FsStore::load(store_dir.path())
        .await
        .unwrap();
    let other = stranger().await;
    let conn = other.connect(addr.clone(), iroh_blobs::ALPN).await.unwrap();
    within(
        "a fetch by another peer",
        store.remote().fetch(conn, iroh_hash(&hash)).complete(),
    )
    .await
    .unwrap();
    // Closing one held connection gives the share back.
    let first = held.remove(0);
    first.close(0u32.into(), b"done");
    drop(first);
    let again = within("the share to come back", async {
        loop {
            let conn = ep.connect(addr.clone(), iroh_blobs::ALPN).await.unwrap();
            let probe = TempDir::new().unwrap();
            let s = iroh_blobs::store::fs::FsStore::load(probe.path())
                .await
                .unwrap();
            if s.remote().fetch(conn, iroh_hash(&hash)).await.is_ok() {
                s.shutdown().await.unwrap();
                return;
            }
            s.shutdown().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    again.await;
    drop(held);
    store.shutdown().await.unwrap();
    other.close().await;
    ep.close().await;
    node.shutdown().await;
}

/// `fut`, or a failure naming `what` once the deadline passes (a bound, not a threshold).
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn iroh_hash(hash: &atoll_registry::Hash) -> iroh_blobs::Hash {
    atoll_discovery::blobs::to_iroh(hash)
}

fn peer(n: u8) -> iroh::EndpointId {
    SecretKey::from_bytes(&[n; 32]).public()
}

#[test]
fn one_peer_gets_at_most_its_share_and_gets_it_back_when_a_slot_closes() {
    let capped = Capped::new(
        (),
        ConnectionLimits {
            total: 8,
            per_peer: 2,
        },
    );
    let a1 = capped.admit(peer(1)).unwrap();
    let _a2 = capped.admit(peer(1)).unwrap();
    assert_eq!(capped.admit(peer(1)).err(), Some(Refused::PerPeer));
    // Another peer is not held up by the first one's share.
    let _b1 = capped.admit(peer(2)).unwrap();
    drop(a1);
    let _a3 = capped.admit(peer(1)).unwrap();
}

#[test]
fn the_total_cap_holds_across_peers_and_every_slot_comes_back() {
    let capped = Capped::new(
        (),
        ConnectionLimits {
            total: 3,
            per_peer: 2,
        },
    );
    let slots: Vec<_> = (1..=3).map(|n| capped.admit(peer(n)).unwrap()).collect();
    assert_eq!(capped.admit(peer(4)).err(), Some(Refused::Total));
    assert_eq!(capped.peers(), 3);
    drop(slots);
    assert_eq!(capped.peers(), 0);
    let _again = capped.admit(peer(4)).unwrap();
}

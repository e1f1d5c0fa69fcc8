//! Fetch progress, as an install sees it: bytes held of the total for a multi-MB image,
//! never going back, ending at the total, naming the source and the path; and a source
//! that accepts the connection and then sends nothing is named as stalled and left, and
//! the blob comes from the next source. Real iroh endpoints on 127.0.0.1.

use std::time::Duration;

use atoll_discovery::blobs::{
    BlobNode, BlobSource, FetchPath, FetchProgress, FetchState, Fetcher, ProgressSender, SourceKind,
};
use atoll_discovery::{FetchLimits, IrohConfig};
use atoll_registry::objects::BlobRef;
use atoll_registry::{AppRef, Entry, Envelope};
use iroh::endpoint::presets;
use iroh::{Endpoint, RelayMode, SecretKey};
use tempfile::TempDir;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::support::{eventually, init_tracing, make_app, Node, Publisher, TestRelay, DEADLINE};

/// An image big enough to arrive in many steps.
const IMAGE: usize = 8 * 1024 * 1024;

fn drain(rx: &mut UnboundedReceiver<FetchProgress>) -> Vec<FetchProgress> {
    let mut out = Vec::new();
    while let Ok(p) = rx.try_recv() {
        out.push(p);
    }
    out
}

/// The held byte counts never go back, and the last event is `done` at the total.
fn assert_monotonic_to_the_total(events: &[FetchProgress], total: u64) {
    assert!(!events.is_empty());
    for w in events.windows(2) {
        assert!(w[0].fetched <= w[1].fetched, "went back: {w:?}");
    }
    let last = events.last().unwrap();
    assert_eq!(last.state, FetchState::Done, "{last:?}");
    assert_eq!((last.fetched, last.total), (total, total), "{last:?}");
    let moving: Vec<_> = events
        .iter()
        .filter(|p| p.state == FetchState::Fetching && p.fetched > 0 && p.fetched < total)
        .collect();
    assert!(
        moving.len() >= 2,
        "a multi-MB blob shows movement on the way: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_install_fetch_reports_bytes_of_the_total_from_the_origin_over_a_direct_path() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = TempDir::new().unwrap();
    let publisher = Publisher::start(41, vec![relay.url()]).await;
    // Like `atoll node`: images are fetched on install, not while syncing.
    let observer = Node::start_with("observer", vec![relay.url()], |c| {
        c.prefetch_images = false;
    })
    .await;
    let published = publisher
        .publish(&make_app(apps.path(), "big", "1.0.0", IMAGE))
        .await;
    let app: AppRef = published.app.parse().unwrap();
    eventually("the observer has the manifest of big", || async {
        observer.head(&app).await.is_some_and(|h| h.2)
    })
    .await;
    let entry = Envelope::from_slice(&std::fs::read(published.bundle.join("entry.json")).unwrap())
        .unwrap()
        .verify::<Entry>()
        .unwrap();
    let image = entry
        .artifacts
        .iter()
        .find(|a| a.path == "images/web.oci.tar")
        .unwrap()
        .blob;
    assert!(!observer.holds(&[(image.hash, image.size)]).await);

    let (tx, mut rx) = ProgressSender::channel();
    tokio::time::timeout(DEADLINE, observer.d.fetch_entry_reporting(&entry, tx))
        .await
        .expect("the fetch ended")
        .unwrap();
    let events = drain(&mut rx);
    assert!(observer.holds(&[(image.hash, image.size)]).await);

    // The manifest was fetched while syncing: held, nothing moved.
    let manifest: Vec<_> = events
        .iter()
        .filter(|p| p.blob == entry.manifest.hash)
        .collect();
    assert_eq!(manifest.len(), 1, "{manifest:?}");
    assert_eq!(manifest[0].state, FetchState::Held);
    assert_eq!(manifest[0].kind, "manifest");
    assert_eq!(manifest[0].fetched, entry.manifest.size);

    let of_image: Vec<_> = events
        .iter()
        .filter(|p| p.blob == image.hash)
        .cloned()
        .collect();
    assert_monotonic_to_the_total(&of_image, image.size);
    let origin = publisher.node.d.node_id();
    let label = format!("origin {}…", &origin[..8]);
    for p in &of_image {
        assert_eq!(
            (p.kind.as_str(), p.name.as_str()),
            ("image", "images/web.oci.tar")
        );
        assert_eq!(p.total, IMAGE as u64);
        assert_eq!(p.source.as_deref(), Some(label.as_str()), "{p:?}");
        assert_eq!(p.source_kind, Some(SourceKind::Origin));
        assert_eq!(p.source_id.as_deref(), Some(origin.as_str()));
        if matches!(p.state, FetchState::Fetching | FetchState::Done) {
            assert_eq!(p.path, Some(FetchPath::Direct), "loopback, no relay: {p:?}");
        }
    }
    assert_eq!(of_image[0].state, FetchState::Connecting);
    // Asked again, the blob is held: one event, nothing moved.
    let (tx, mut rx) = ProgressSender::channel();
    observer.d.fetch_entry_reporting(&entry, tx).await.unwrap();
    let again: Vec<_> = drain(&mut rx)
        .into_iter()
        .filter(|p| p.blob == image.hash)
        .collect();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].state, FetchState::Held);
    assert_eq!(again[0].fetched, image.size);
    observer.stop().await;
    publisher.node.stop().await;
}

/// An iroh endpoint that speaks the blobs ALPN, accepts every connection and request
/// stream, and never sends a byte.
async fn stalling_peer() -> (Endpoint, tokio::task::JoinHandle<()>) {
    let ep = Endpoint::builder(presets::Minimal)
        .relay_mode(RelayMode::Disabled)
        .clear_address_lookup()
        .clear_ip_transports()
        .alpns(vec![iroh_blobs::ALPN.to_vec()])
        .bind_addr("127.0.0.1:0")
        .unwrap()
        .bind()
        .await
        .unwrap();
    let accept = ep.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(incoming) = accept.accept().await {
            let Ok(conn) = incoming.await else {
                continue;
            };
            let streams = conn.accept_bi().await.ok();
            held.push((conn, streams));
        }
    });
    (ep, task)
}

async fn blob_node(dir: &TempDir) -> BlobNode {
    let cfg = IrohConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..IrohConfig::default()
    };
    BlobNode::spawn(&cfg, dir.path(), SecretKey::generate(), true)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_that_stalls_is_named_and_left_and_the_next_source_completes_the_blob() {
    init_tracing();
    let (stalling, stall_task) = stalling_peer().await;
    let (serve_dir, fetch_dir) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mirror = blob_node(&serve_dir).await;
    let mut bytes = Vec::with_capacity(IMAGE);
    let mut x = blake3::hash(b"stall");
    while bytes.len() < IMAGE {
        bytes.extend_from_slice(x.as_bytes());
        x = blake3::hash(x.as_bytes());
    }
    let want = BlobRef {
        hash: mirror.add_bytes(bytes).await.unwrap(),
        size: IMAGE as u64,
    };
    let node = blob_node(&fetch_dir).await;
    let limits = FetchLimits {
        connect_timeout: Duration::from_secs(10),
        stall_timeout: Duration::from_secs(5),
        ..FetchLimits::default()
    };
    let fetcher = Fetcher::new(node.clone(), None, limits);
    let sources = [
        BlobSource::node(SourceKind::Origin, stalling.id(), stalling.bound_sockets()),
        BlobSource::node(SourceKind::Mirror, mirror.node_id(), mirror.addrs()),
    ];
    let (tx, mut rx) = ProgressSender::channel();
    let progress = tx.blob(want.hash, want.size, "image", "images/web.oci.tar");
    let outcome = tokio::time::timeout(
        DEADLINE,
        fetcher.fetch_reporting(&want, &sources, &CancellationToken::new(), &progress),
    )
    .await
    .expect("the fetch ended")
    .unwrap();
    assert_eq!(outcome.source, sources[1].name());
    assert_eq!(
        node.complete_size(&want.hash).await.unwrap(),
        Some(want.size)
    );
    let events = drain(&mut rx);

    let stalled_id = hex::encode(stalling.id().as_bytes());
    let stalled: Vec<_> = events
        .iter()
        .filter(|p| p.state == FetchState::Stalled)
        .collect();
    assert_eq!(stalled.len(), 1, "{events:?}");
    assert_eq!(stalled[0].source_id.as_deref(), Some(stalled_id.as_str()));
    assert_eq!(stalled[0].source_kind, Some(SourceKind::Origin));
    assert_eq!(stalled[0].path, Some(FetchPath::Direct));
    let why = stalled[0].detail.as_deref().unwrap_or("");
    assert!(why.contains("stalled: no bytes for 5 s"), "{why}");
    // Then the mirror, from connecting to done, at the total.
    let at = events
        .iter()
        .position(|p| p.state == FetchState::Stalled)
        .unwrap();
    let from_mirror = &events[at + 1..];
    let mirror_id = mirror.node_id_hex();
    assert!(from_mirror
        .iter()
        .all(|p| p.source_id.as_deref() == Some(mirror_id.as_str())
            && p.source_kind == Some(SourceKind::Mirror)));
    assert_eq!(from_mirror[0].state, FetchState::Connecting);
    assert_monotonic_to_the_total(&events, want.size);

    // The staller is tried last from now on: the next fetch goes to the mirror first.
    let other = BlobRef {
        hash: mirror.add_bytes(b"second".to_vec()).await.unwrap(),
        size: 6,
    };
    let (tx, mut rx) = ProgressSender::channel();
    let progress = tx.blob(other.hash, other.size, "icon", "icon.svg");
    fetcher
        .fetch_reporting(&other, &sources, &CancellationToken::new(), &progress)
        .await
        .unwrap();
    let events = drain(&mut rx);
    assert!(
        events
            .iter()
            .all(|p| p.source_id.as_deref() == Some(mirror_id.as_str())),
        "{events:?}"
    );
    stall_task.abort();
    stalling.close().await;
    node.shutdown().await;
    mirror.shutdown().await;
}

//! Discovery benchmarks, each with its own baseline measured in the same run:
//!
//! 1. sync throughput: entries/s from a relay, verified (Nostr + DID) and stored in the
//!    SQLite catalog (the node's catalog service, through the node's port adapter), against
//!    the raw verification rate of the same events;
//! 2. blob fetch: the node's fetcher vs bare iroh-blobs vs a plain loopback TCP copy;
//! 3. resync: bytes moved when a node restarts on an unchanged catalog, against a full
//!    sync (NIP-77 negentropy, and `since` cursors).
//!
//! `cargo bench --workspace --bench swarm` (env: ATOLL_BENCH_ENTRIES, ATOLL_BENCH_BLOB_MB,
//! ATOLL_BENCH_ONLY=sync,blob,resync).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use atoll::node::catalog_port::SwarmCatalog;
use atoll_catalog::CatalogService;
use atoll_discovery::codec::{self, Object};
use atoll_discovery::relay::EmbeddedRelay;
use atoll_discovery::{CatalogPort, Discovery, DiscoveryConfig, EmbeddedRelayConfig};
use atoll_registry::objects::{BlobRef, EntryType, Origin};
use atoll_registry::{Entry, Envelope, Hash, Keypair};
use nostr_database::NostrDatabase;
use nostr_sdk::{Event, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` signed entry events from `publishers` keys, created over the last 30 days.
fn make_events(n: usize, publishers: usize) -> Vec<Event> {
    let keys: Vec<Keypair> = (0..publishers)
        .map(|i| Keypair::from_seed([i as u8 + 1; 32]))
        .collect();
    let nostr: Vec<_> = keys.iter().map(|k| k.nostr_keys().unwrap()).collect();
    let now = atoll_discovery::now_secs();
    (0..n)
        .map(|i| {
            let p = i % publishers;
            let entry = Entry {
                kind: EntryType,
                app: format!("app-{i}").parse().unwrap(),
                publisher: keys[p].did(),
                version: "1.0.0".parse().unwrap(),
                sequence: 1,
                manifest: BlobRef {
                    hash: Hash::of(format!("manifest {i}").as_bytes()),
                    size: 1000,
                },
                artifacts: vec![],
                origin: Origin::default(),
                published_at: now - 40 * 86_400,
                expires_at: now + 365 * 86_400,
                yanked: None,
            };
            let v = Envelope::sign(&entry, &keys[p]).unwrap().verify().unwrap();
            let at = Timestamp::from(now - 30 * 86_400 + (i as u64 * 997) % (29 * 86_400));
            codec::encode(&Object::Entry(v), &nostr[p], Some(at)).unwrap()
        })
        .collect()
}

/// A relay whose LMDB already holds `events`.
async fn relay_with(dir: &std::path::Path, events: &[Event]) -> EmbeddedRelay {
    {
        let db = nostr_lmdb::NostrLMDB::builder(dir)
            .map_size(atoll_discovery::relay::LMDB_MAP_SIZE)
            .build()
            .unwrap();
        for e in events {
            db.save_event(e).await.unwrap();
        }
    }
    let cfg = EmbeddedRelayConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..EmbeddedRelayConfig::default()
    };
    EmbeddedRelay::start(&cfg, dir).await.unwrap()
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !f() {
        assert!(Instant::now() < deadline, "bench timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn start_node(dir: &std::path::Path, relay: &str, negentropy: bool) -> Discovery {
    let mut cfg = DiscoveryConfig::test(dir.join("data"), vec![relay.to_owned()]);
    cfg.negentropy = negentropy;
    cfg.prefetch_images = false;
    let service = CatalogService::open(dir.join("catalog.db")).unwrap();
    let catalog: Arc<dyn CatalogPort> = Arc::new(SwarmCatalog::new(service));
    Discovery::start(cfg, catalog).await.unwrap()
}

async fn sync_throughput(n: usize) {
    let events = make_events(n, 20);
    // Raw verification rate: Nostr id + BIP-340 signature and the DID signature, the two
    // checks every event needs, nothing else.
    let t = Instant::now();
    for e in &events {
        e.verify().unwrap();
        Envelope::from_slice(e.content.as_bytes())
            .unwrap()
            .verify::<Entry>()
            .unwrap();
    }
    let raw = n as f64 / t.elapsed().as_secs_f64();
    // The catalog alone: the origin-wins rules in SQLite, one transaction per entry.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SwarmCatalog::new(CatalogService::open(dir.path().join("catalog.db")).unwrap());
    let verified: Vec<_> = events
        .iter()
        .map(|e| {
            Envelope::from_slice(e.content.as_bytes())
                .unwrap()
                .verify::<Entry>()
                .unwrap()
        })
        .collect();
    let t = Instant::now();
    for v in &verified {
        sqlite
            .ingest_entry(v, &atoll_discovery::Source::Relay("bench".into()))
            .await
            .unwrap();
    }
    let store_rate = n as f64 / t.elapsed().as_secs_f64();
    let dir2 = tempfile::tempdir().unwrap();
    let batched = CatalogService::open(dir2.path().join("catalog.db")).unwrap();
    let t = Instant::now();
    for chunk in verified.chunks(256) {
        let chunk = chunk.to_vec();
        batched
            .write(move |c| {
                c.ingest_batch(&chunk, &atoll_catalog::Provenance::Relay("bench".into()))
            })
            .await
            .unwrap();
    }
    let batch_rate = n as f64 / t.elapsed().as_secs_f64();

    let relay_dir = tempfile::tempdir().unwrap();
    let relay = relay_with(relay_dir.path(), &events).await;
    let node_dir = tempfile::tempdir().unwrap();
    let d = start_node(node_dir.path(), relay.url(), true).await;
    let t = Instant::now();
    wait_for("entries stored", || d.counters().objects_stored >= n as u64).await;
    let secs = t.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    println!(
        "sync throughput: {n} entries from a relay, verified and stored in SQLite, in {secs:.2} s = {rate:.0} entries/s"
    );
    println!(
        "  raw verify rate (Nostr + DID signatures only): {raw:.0} entries/s; ratio {:.2}",
        rate / raw
    );
    println!(
        "  SQLite catalog ingest alone: {store_rate:.0} entries/s one by one, {batch_rate:.0} entries/s in batches of 256"
    );
    d.shutdown().await;
    relay.shutdown();
}

async fn resync_bytes(n: usize) {
    let events = make_events(n, 20);
    for negentropy in [true, false] {
        let relay_dir = tempfile::tempdir().unwrap();
        let relay = relay_with(relay_dir.path(), &events).await;
        let node_dir = tempfile::tempdir().unwrap();
        let d = start_node(node_dir.path(), relay.url(), negentropy).await;
        wait_for("full sync", || d.counters().objects_stored >= n as u64).await;
        wait_for("catch-up done", || {
            d.relays().states().iter().all(|s| s.catch_ups > 0)
        })
        .await;
        let (s1, r1) = d.relays().traffic().await;
        d.shutdown().await;
        // Restart on the same data dir: an unchanged catalog.
        let d = start_node(node_dir.path(), relay.url(), negentropy).await;
        assert!(d.relays().wait_synced(Duration::from_secs(60)).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (s2, r2) = d.relays().traffic().await;
        let mode = if negentropy {
            "NIP-77 negentropy"
        } else {
            "since cursor"
        };
        let full = s1 + r1;
        let again = s2 + r2;
        println!(
            "resync ({mode}): full sync moved {full} bytes, resync of the unchanged catalog {again} bytes = {:.3}% of a full sync",
            again as f64 * 100.0 / full as f64
        );
        d.shutdown().await;
        relay.shutdown();
    }
}

async fn tcp_copy(bytes: &[u8]) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let data = bytes.to_vec();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(&data).await.unwrap();
    });
    let t = Instant::now();
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    loop {
        let k = c.read(&mut buf).await.unwrap();
        if k == 0 {
            break;
        }
        got += k;
    }
    let secs = t.elapsed().as_secs_f64();
    server.await.unwrap();
    assert_eq!(got, bytes.len());
    bytes.len() as f64 / secs
}

async fn blob_endpoint(
    store: &iroh_blobs::store::fs::FsStore,
) -> (iroh::protocol::Router, iroh::EndpointAddr) {
    let ep = iroh::Endpoint::builder(iroh::endpoint::presets::Minimal)
        .relay_mode(iroh::RelayMode::Disabled)
        .clear_address_lookup()
        .clear_ip_transports()
        .bind_addr("127.0.0.1:0")
        .unwrap()
        .bind()
        .await
        .unwrap();
    let mut addr = iroh::EndpointAddr::new(ep.id());
    for a in ep.bound_sockets() {
        addr = addr.with_ip_addr(a);
    }
    let router = iroh::protocol::Router::builder(ep)
        .accept(
            iroh_blobs::ALPN,
            iroh_blobs::BlobsProtocol::new(store, None),
        )
        .spawn();
    (router, addr)
}

async fn bare_iroh(bytes: &[u8]) -> f64 {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let sa = iroh_blobs::store::fs::FsStore::load(a.path())
        .await
        .unwrap();
    let sb = iroh_blobs::store::fs::FsStore::load(b.path())
        .await
        .unwrap();
    let tag = sa.blobs().add_slice(bytes).await.unwrap();
    let (ra, addr) = blob_endpoint(&sa).await;
    let (rb, _) = blob_endpoint(&sb).await;
    let t = Instant::now();
    let conn = rb.endpoint().connect(addr, iroh_blobs::ALPN).await.unwrap();
    sb.remote().fetch(conn, tag.hash).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    ra.shutdown().await.unwrap();
    rb.shutdown().await.unwrap();
    bytes.len() as f64 / secs
}

async fn atoll_fetch(bytes: &[u8]) -> f64 {
    use atoll_discovery::blobs::{BlobNode, BlobSource, Fetcher, SourceKind};
    let cfg = atoll_discovery::IrohConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let na = BlobNode::spawn(&cfg, a.path(), iroh::SecretKey::generate(), true)
        .await
        .unwrap();
    let nb = BlobNode::spawn(&cfg, b.path(), iroh::SecretKey::generate(), true)
        .await
        .unwrap();
    let hash = na.add_bytes(bytes.to_vec()).await.unwrap();
    let fetcher = Fetcher::new(nb.clone(), None, Default::default());
    let want = BlobRef {
        hash,
        size: bytes.len() as u64,
    };
    let source = BlobSource::node(SourceKind::Origin, na.node_id(), na.addrs());
    let cancel = tokio_util::sync::CancellationToken::new();
    let t = Instant::now();
    fetcher.fetch(&want, &[source], &cancel).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    na.shutdown().await;
    nb.shutdown().await;
    bytes.len() as f64 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn blob_fetch(mb: usize) {
    let mut bytes = vec![0u8; mb << 20];
    let mut x = blake3::hash(b"bench");
    for chunk in bytes.chunks_mut(32) {
        chunk.copy_from_slice(&x.as_bytes()[..chunk.len()]);
        x = blake3::hash(x.as_bytes());
    }
    let (mut tcp, mut bare, mut ours) = (Vec::new(), Vec::new(), Vec::new());
    let rounds = env_usize("ATOLL_BENCH_ROUNDS", 5);
    for i in 0..rounds {
        // Alternate the order, so that load from elsewhere on the machine hits both alike.
        if i % 2 == 0 {
            bare.push(bare_iroh(&bytes).await);
            ours.push(atoll_fetch(&bytes).await);
        } else {
            ours.push(atoll_fetch(&bytes).await);
            bare.push(bare_iroh(&bytes).await);
        }
        tcp.push(tcp_copy(&bytes).await);
    }
    let (tcp, bare, ours) = (median(tcp), median(bare), median(ours));
    let mbs = |r: f64| r / (1 << 20) as f64;
    println!("blob fetch of {mb} MiB over loopback (median of {rounds}):");
    println!("  plain TCP copy:      {:.0} MiB/s", mbs(tcp));
    println!("  bare iroh-blobs:     {:.0} MiB/s", mbs(bare));
    println!(
        "  atoll fetcher:       {:.0} MiB/s = {:.2}x TCP (target >= 0.25), {:.2}x bare iroh-blobs (target >= 0.9)",
        mbs(ours),
        ours / tcp,
        ours / bare
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let entries = env_usize("ATOLL_BENCH_ENTRIES", if quick { 200 } else { 2000 });
    let mb = env_usize("ATOLL_BENCH_BLOB_MB", if quick { 4 } else { 128 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("ATOLL_BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    rt.block_on(async {
        if run("sync") {
            sync_throughput(entries).await;
        }
        if run("blob") {
            blob_fetch(mb).await;
        }
        if run("resync") {
            resync_bytes(entries).await;
        }
    });
}

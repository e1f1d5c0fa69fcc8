//! Several nodes and one relay, all in this process.

use atoll_registry::AppRef;

use crate::support::{blobs_of, eventually, init_tracing, make_app, Node, Publisher, TestRelay};

fn app_ref(p: &atoll_discovery::publish::Published) -> AppRef {
    p.app.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_nodes_converge_then_a_new_version_and_a_late_joiner() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(1, vec![relay.url()]).await;
    let mut nodes = Vec::new();
    for name in ["n2", "n3", "n4"] {
        nodes.push(Node::start(name, vec![relay.url()]).await);
    }

    // Three apps.
    let mut published = Vec::new();
    for (id, len) in [("alpha", 200_000), ("beta", 64_000), ("gamma", 700_000)] {
        let dir = make_app(apps.path(), id, "1.0.0", len);
        published.push(publisher.publish(&dir).await);
    }
    for p in &published {
        let app = app_ref(p);
        let want = publisher
            .node
            .head(&app)
            .await
            .expect("publisher has its own head");
        assert_eq!(want.0, p.sequence);
        let blobs = blobs_of(p);
        for n in &nodes {
            eventually(&format!("{} converges on {}", n.name, p.app), || async {
                n.head(&app).await == Some((want.0, want.1, true)) && n.holds(&blobs).await
            })
            .await;
        }
    }

    // A new version propagates.
    let dir = make_app(apps.path(), "gamma", "2.0.0", 300_000);
    let v2 = publisher.publish(&dir).await;
    let gamma = app_ref(&v2);
    assert!(v2.sequence > published[2].sequence);
    let want = publisher.node.head(&gamma).await.unwrap();
    let blobs = blobs_of(&v2);
    for n in &nodes {
        eventually(&format!("{} gets gamma 2.0.0", n.name), || async {
            n.head(&gamma).await == Some((want.0, want.1, true)) && n.holds(&blobs).await
        })
        .await;
    }
    published[2] = v2;

    // A late joiner catches up with everything.
    let late = Node::start("n5", vec![relay.url()]).await;
    for p in &published {
        let app = app_ref(p);
        let want = publisher.node.head(&app).await.unwrap();
        let blobs = blobs_of(p);
        eventually(&format!("late joiner gets {}", p.app), || async {
            late.head(&app).await == Some((want.0, want.1, true)) && late.holds(&blobs).await
        })
        .await;
    }
    nodes.push(late);

    // Same verified catalog everywhere, and nothing refused on the way.
    for n in &nodes {
        for p in &published {
            let app = app_ref(p);
            assert_eq!(
                n.head(&app).await,
                publisher.node.head(&app).await,
                "{} {}",
                n.name,
                p.app
            );
        }
        let c = n.d.counters();
        assert_eq!(
            c.rejected.values().sum::<u64>(),
            0,
            "{}: {:?}",
            n.name,
            c.rejected
        );
        assert!(c.entries_accepted >= 3, "{}: {c:?}", n.name);
        let status = n.d.status().await;
        assert!(status.relays.iter().all(|r| r.catch_ups >= 1));
        assert_eq!(
            status.relays[0].mode,
            atoll_discovery::relay::SyncMode::Negentropy,
            "the embedded relay reconciles with NIP-77"
        );
    }
    for n in nodes {
        n.stop().await;
    }
    publisher.node.stop().await;
}

/// A mirror that lies: it speaks the iroh-blobs protocol but answers every request with
/// the bao encoding of the right blob in which a few bytes of the last chunk are flipped.
#[derive(Debug, Clone)]
struct LyingProvider {
    encoded: std::sync::Arc<Vec<u8>>,
}

impl iroh::protocol::ProtocolHandler for LyingProvider {
    async fn accept(
        &self,
        conn: iroh::endpoint::Connection,
    ) -> Result<(), iroh::protocol::AcceptError> {
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            let mut request = [0u8; 1024];
            let _ = recv.read(&mut request).await;
            let _ = send.write_all(&self.encoded).await;
            let _ = send.finish();
        }
        Ok(())
    }
}

/// Start a lying mirror for `data` and announce it (signed by its own node key) with an
/// announcement older than anyone else's, so fetchers try it first.
async fn lying_mirror(
    data: &[u8],
    announcer: &atoll_discovery::Discovery,
) -> (iroh::protocol::Router, String) {
    use atoll_discovery::announce::{MirrorAnnouncement, MirrorType};
    use atoll_discovery::codec::Object;
    let store = iroh_blobs::store::mem::MemStore::new();
    let tag = store.blobs().add_slice(data).await.unwrap();
    let mut encoded = store
        .blobs()
        .export_bao(tag.hash, iroh_blobs::protocol::ChunkRanges::all())
        .bao_to_vec()
        .await
        .unwrap();
    let n = encoded.len();
    for b in &mut encoded[n - 200..n - 100] {
        *b ^= 0x5a;
    }
    let node_key = atoll_discovery::identity::NodeKey::from_seed([77; 32]);
    let endpoint = iroh::Endpoint::builder(iroh::endpoint::presets::Minimal)
        .relay_mode(iroh::RelayMode::Disabled)
        .clear_address_lookup()
        .secret_key(node_key.iroh_secret())
        .clear_ip_transports()
        .bind_addr("127.0.0.1:0")
        .unwrap()
        .bind()
        .await
        .unwrap();
    let addrs = endpoint.bound_sockets();
    let router = iroh::protocol::Router::builder(endpoint)
        .accept(
            iroh_blobs::ALPN,
            LyingProvider {
                encoded: std::sync::Arc::new(encoded),
            },
        )
        .spawn();
    let hash = atoll_registry::Hash::of(data);
    let a = MirrorAnnouncement {
        kind: MirrorType,
        node: node_key.did(),
        addrs: addrs.iter().map(|a| a.to_string()).collect(),
        relays: vec![],
        manifest: hash,
        blobs: vec![hash],
        announced_at_ms: atoll_discovery::now_millis() - 3_600_000,
    };
    let verified = atoll_registry::Envelope::sign(&a, node_key.keypair())
        .unwrap()
        .verify()
        .unwrap();
    announcer
        .announce(&Object::Mirror(verified), &node_key.nostr_keys().unwrap())
        .await
        .unwrap();
    (router, a.node_id_hex())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn origin_offline_a_mirror_serves_and_a_lying_mirror_is_rejected() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(2, vec![relay.url()]).await;
    let dir = make_app(apps.path(), "delta", "1.0.0", 2_000_000);
    let image_bytes = std::fs::read(dir.join("images/web.oci.tar")).unwrap();
    let p = publisher.publish(&dir).await;
    let app = app_ref(&p);
    let want = publisher.node.head(&app).await.unwrap();
    let blobs = blobs_of(&p);

    // A mirror fetches everything from the origin and announces it.
    let mirror = Node::start("mirror", vec![relay.url()]).await;
    eventually("the mirror has the app", || async {
        mirror.head(&app).await == Some((want.0, want.1, true)) && mirror.holds(&blobs).await
    })
    .await;
    eventually(
        "the publisher's node saw the mirror's announcement",
        || async { publisher.node.d.status().await.pipeline.mirrors_known >= blobs.len() },
    )
    .await;
    // A liar announces the image too, with an older announcement (tried first).
    let (liar, liar_id) = lying_mirror(&image_bytes, &publisher.node.d).await;
    eventually("the liar's announcement is known", || async {
        publisher.node.d.status().await.pipeline.mirrors_known > blobs.len()
    })
    .await;

    // The origin goes offline.
    publisher.node.stop().await;

    // A further node: the origin is unreachable, the liar's bytes fail verification and
    // are refused (recorded), the right bytes come from the honest mirror.
    let late = Node::start("late", vec![relay.url()]).await;
    eventually(
        "late node gets the verified blobs from a mirror",
        || async {
            late.head(&app).await == Some((want.0, want.1, true)) && late.holds(&blobs).await
        },
    )
    .await;
    // The fetch job reports the liar's bytes when it finishes, which can be just after
    // the blob from the honest mirror is in the store: wait for the report itself.
    eventually("the lying mirror's bytes are reported", || async {
        late.d
            .recent_rejections()
            .iter()
            .any(|r| r.code == "blob-corrupt")
    })
    .await;
    let corrupt: Vec<_> = late
        .d
        .recent_rejections()
        .into_iter()
        .filter(|r| r.code == "blob-corrupt")
        .collect();
    assert!(!corrupt.is_empty(), "the lying mirror was not caught");
    assert!(
        corrupt
            .iter()
            .all(|r| r.source.to_string().contains(&liar_id)),
        "{corrupt:?}"
    );
    assert!(late.audit_codes().await.iter().any(|c| c == "blob-corrupt"));
    assert_eq!(
        late.d.counters().rejected("blob-corrupt"),
        corrupt.len() as u64
    );
    let got = late
        .d
        .blobs()
        .get_bytes(&atoll_registry::Hash::of(&image_bytes), u64::MAX)
        .await
        .unwrap();
    assert!(
        got.as_ref() == image_bytes.as_slice(),
        "only verified bytes are kept"
    );

    late.stop().await;
    mirror.stop().await;
    liar.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_catches_up_and_still_knows_the_origin() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(5, vec![relay.url()]).await;
    let v1 = publisher
        .publish(&make_app(apps.path(), "kappa", "1.0.0", 30_000))
        .await;
    let app = app_ref(&v1);
    let node = Node::start("restarting", vec![relay.url()]).await;
    let want = publisher.node.head(&app).await.unwrap();
    eventually("node has kappa 1.0.0", || async {
        node.head(&app).await == Some((want.0, want.1, true))
    })
    .await;
    // Carried by the publisher's bound key. The profile that binds it may be processed
    // after the entry (another relay batch); the entry is then upgraded to the origin's.
    eventually("node counts kappa 1.0.0 as the origin's", || async {
        node.head_from_origin(&app).await
    })
    .await;

    // While it is down, a new version; then it restarts on the same data dir.
    let node = {
        node.d.shutdown().await;
        let v2 = publisher
            .publish(&make_app(apps.path(), "kappa", "2.0.0", 30_000))
            .await;
        assert!(v2.sequence > v1.sequence);
        node.restart(vec![relay.url()]).await
    };
    let want = publisher.node.head(&app).await.unwrap();
    eventually("restarted node gets kappa 2.0.0", || async {
        node.head(&app).await == Some((want.0, want.1, true))
    })
    .await;
    // Profiles are fetched again after a restart, so the new head still counts as the
    // origin's (equivocation rule 3 depends on it). The manifest can be attached before
    // the profile is processed, so this too is awaited, not read once.
    eventually(
        "restarted node counts kappa 2.0.0 as the origin's",
        || async { node.head_from_origin(&app).await },
    )
    .await;
    assert_eq!(node.d.counters().rejected.values().sum::<u64>(), 0);
    node.stop().await;
    publisher.node.stop().await;
}

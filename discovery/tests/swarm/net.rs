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
        let want = publisher.node.head(&app).expect("publisher has its own head");
        assert_eq!(want.0, p.sequence);
        let blobs = blobs_of(p);
        for n in &nodes {
            eventually(&format!("{} converges on {}", n.name, p.app), || async {
                n.head(&app) == Some((want.0, want.1, true)) && n.holds(&blobs).await
            })
            .await;
        }
    }

    // A new version propagates.
    let dir = make_app(apps.path(), "gamma", "2.0.0", 300_000);
    let v2 = publisher.publish(&dir).await;
    let gamma = app_ref(&v2);
    assert!(v2.sequence > published[2].sequence);
    let want = publisher.node.head(&gamma).unwrap();
    let blobs = blobs_of(&v2);
    for n in &nodes {
        eventually(&format!("{} gets gamma 2.0.0", n.name), || async {
            n.head(&gamma) == Some((want.0, want.1, true)) && n.holds(&blobs).await
        })
        .await;
    }
    published[2] = v2;

    // A late joiner catches up with everything.
    let late = Node::start("n5", vec![relay.url()]).await;
    for p in &published {
        let app = app_ref(p);
        let want = publisher.node.head(&app).unwrap();
        let blobs = blobs_of(p);
        eventually(&format!("late joiner gets {}", p.app), || async {
            late.head(&app) == Some((want.0, want.1, true)) && late.holds(&blobs).await
        })
        .await;
    }
    nodes.push(late);

    // Same verified catalog everywhere, and nothing refused on the way.
    for n in &nodes {
        for p in &published {
            let app = app_ref(p);
            assert_eq!(n.head(&app), publisher.node.head(&app), "{} {}", n.name, p.app);
        }
        let c = n.d.counters();
        assert_eq!(c.rejected.values().sum::<u64>(), 0, "{}: {:?}", n.name, c.rejected);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn origin_offline_a_mirror_serves_and_a_tampered_mirror_is_rejected() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(2, vec![relay.url()]).await;
    let dir = make_app(apps.path(), "delta", "1.0.0", 2_000_000);
    let p = publisher.publish(&dir).await;
    let app = app_ref(&p);
    let want = publisher.node.head(&app).unwrap();
    let blobs = blobs_of(&p);
    let (image, image_len) = *blobs.iter().max_by_key(|(_, size)| *size).unwrap();

    // First mirror: fetches from the origin, then its copy of the image is tampered with
    // on disk (the store keeps serving it, with the original hash tree).
    let bad = Node::start("bad-mirror", vec![relay.url()]).await;
    eventually("first mirror has the app", || async {
        bad.head(&app) == Some((want.0, want.1, true)) && bad.holds(&blobs).await
    })
    .await;
    let data = bad
        .data_dir()
        .join("blobs/data")
        .join(format!("{}.data", image.to_hex()));
    let mut bytes = std::fs::read(&data).unwrap();
    assert_eq!(bytes.len() as u64, image_len);
    for i in (0..bytes.len()).step_by(4096) {
        bytes[i] ^= 0xff;
    }
    std::fs::write(&data, &bytes).unwrap();

    // Second mirror: the origin is still up, so it fetches from there.
    let good = Node::start("good-mirror", vec![relay.url()]).await;
    eventually("second mirror has the app", || async {
        good.head(&app) == Some((want.0, want.1, true)) && good.holds(&blobs).await
    })
    .await;
    // Both announced themselves; wait until the publisher's node has seen both.
    eventually("both mirror announcements reached the relay", || async {
        publisher.node.d.status().await.pipeline.mirrors_known >= 2 * blobs.len()
    })
    .await;

    // The origin goes offline.
    publisher.node.stop().await;

    // A further node: origin unreachable, the older (tampered) mirror is tried first and
    // refused, the right bytes come from the other mirror.
    let late = Node::start("late", vec![relay.url()]).await;
    eventually("late node gets the verified blobs from a mirror", || async {
        late.head(&app) == Some((want.0, want.1, true)) && late.holds(&blobs).await
    })
    .await;
    let corrupt: Vec<_> = late
        .d
        .recent_rejections()
        .into_iter()
        .filter(|r| r.code == "blob-corrupt")
        .collect();
    assert!(!corrupt.is_empty(), "the tampered mirror was not caught");
    assert!(
        corrupt.iter().all(|r| r.source.contains(&bad.d.node_id())),
        "{corrupt:?}"
    );
    assert!(late.audit_codes().await.iter().any(|c| c == "blob-corrupt"));
    assert_eq!(late.d.counters().rejected("blob-corrupt"), corrupt.len() as u64);

    late.stop().await;
    good.stop().await;
    bad.stop().await;
}

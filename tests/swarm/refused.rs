//! Entries refused for their manifest blob, end to end: a brand-new key announces an
//! entry whose 207 KB manifest is a YAML alias bomb, served over real iroh. The node
//! stays up, refuses it once, keeps nothing of it (no app, no publisher, no blob), keeps
//! syncing, and does not fetch it again after a restart. A known publisher's bad update
//! gives way to its previous version.

use atoll_catalog::{Provenance, SearchQuery};
use atoll_discovery::codec::{self, Object};
use atoll_registry::objects::{BlobRef, EntryType, Origin, MAX_MANIFEST_BYTES};
use atoll_registry::{AppRef, Entry, Envelope, Hash, Keypair, Verified};

use crate::support::{eventually, init_tracing, make_app, Node, Publisher, TestRelay};

/// A manifest.yml that expands to gigabytes: a 205 KB anchored description, a command
/// of 128 aliases to it, and the container repeated 200 times by alias.
fn alias_bomb(app: &str) -> Vec<u8> {
    let mut y = format!("id: {app}\nname: Bomb\nversion: 1.0.0\n");
    y.push_str(&format!("description: &s \"{}\"\n", "x".repeat(205_000)));
    y.push_str("containers:\n  - &c\n    name: web\n    image: {reference: \"docker.io/library/busybox@sha256:");
    y.push_str(&"a".repeat(64));
    y.push_str("\"}\n    command: [");
    y.push_str(&["*s"; 128].join(", "));
    y.push_str("]\n");
    for _ in 0..199 {
        y.push_str("  - *c\n");
    }
    y.into_bytes()
}

/// An entry for `app` naming `manifest` (held by `origin`), signed by `key`.
fn entry_naming(
    key: &Keypair,
    app: &str,
    sequence: u64,
    manifest: (Hash, usize),
    origin: &Node,
) -> Verified<Entry> {
    let now = atoll_discovery::now_secs();
    let entry = Entry {
        kind: EntryType,
        app: app.parse().unwrap(),
        publisher: key.did(),
        version: "1.0.0".parse().unwrap(),
        sequence,
        manifest: BlobRef {
            hash: manifest.0,
            size: manifest.1 as u64,
        },
        artifacts: vec![],
        origin: Origin {
            node_id: Some(origin.d.node_id()),
            addrs: origin
                .d
                .blobs()
                .addrs()
                .iter()
                .map(|a| a.to_string())
                .collect(),
            https: vec![],
            relays: vec![],
        },
        published_at: now,
        expires_at: now + 86_400,
        yanked: None,
    };
    Envelope::sign(&entry, key).unwrap().verify().unwrap()
}

async fn listed(node: &Node) -> Vec<String> {
    node.catalog
        .read(|c| c.search(&SearchQuery::default()))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.app_ref.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alias_bomb_manifest_is_refused_once_and_leaves_nothing_behind() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let good = Publisher::start(21, vec![relay.url()]).await;
    let mut observer = Node::start("observer", vec![relay.url()]).await;
    let v1 = good
        .publish(&make_app(apps.path(), "kappa", "1.0.0", 10_000))
        .await;
    let kappa: AppRef = v1.app.parse().unwrap();
    let want = good.node.head(&kappa).await.unwrap();
    eventually("observer has kappa 1.0.0", || async {
        observer.head(&kappa).await == Some((want.0, want.1, true))
    })
    .await;

    // A brand-new key (trust 0) serves the bomb from its own node over iroh and
    // announces an entry naming it.
    let stranger = Keypair::from_seed([92; 32]);
    let bomb_host = Node::start("bomb host", vec![]).await;
    let bomb = alias_bomb("bomb");
    assert!(bomb.len() > 200_000 && bomb.len() as u64 <= MAX_MANIFEST_BYTES);
    let bomb_hash = bomb_host.d.blobs().add_bytes(bomb.clone()).await.unwrap();
    let entry = entry_naming(&stranger, "bomb", 1, (bomb_hash, bomb.len()), &bomb_host);
    let bomb_app = entry.app_ref();
    let event = codec::encode(
        &Object::Entry(entry.clone()),
        &stranger.nostr_keys().unwrap(),
        None,
    )
    .unwrap();
    good.node.d.relays().publish(&event).await.unwrap();

    eventually("the observer refuses the bomb's manifest", || async {
        observer.d.counters().rejected("manifest-policy") >= 1
    })
    .await;
    // Nothing of it stays: not listed, no publisher row, one bounded audit row, and the
    // bytes leave the blob store.
    assert!(observer.head(&bomb_app).await.is_none());
    assert_eq!(listed(&observer).await, vec![kappa.to_string()]);
    let report = observer.catalog.read(|c| c.check()).await.unwrap();
    assert_eq!((report.apps, report.publishers), (1, 1), "{report:?}");
    assert_eq!(observer.audit_rows_about(&bomb_app.to_string()).await, 1);
    eventually("the bomb's bytes leave the observer's store", || async {
        observer
            .d
            .blobs()
            .complete_size(&bomb_hash)
            .await
            .unwrap()
            .is_none()
    })
    .await;

    // The node is up and keeps syncing.
    let v2 = good
        .publish(&make_app(apps.path(), "kappa", "2.0.0", 10_000))
        .await;
    let want = good.node.head(&kappa).await.unwrap();
    assert_eq!(want.0, v2.sequence);
    eventually("observer still syncs: kappa 2.0.0", || async {
        observer.head(&kappa).await == Some((want.0, want.1, true))
    })
    .await;

    // A known publisher's update naming a bad manifest gives way to the version before.
    let bad = alias_bomb("kappa");
    let bad_hash = good.node.d.blobs().add_bytes(bad.clone()).await.unwrap();
    let v3 = entry_naming(
        &good.key,
        "kappa",
        v2.sequence + 1,
        (bad_hash, bad.len()),
        &good.node,
    );
    // As `publish` does: the publisher's own catalog takes it first (so its own pipeline
    // sees a duplicate and keeps serving the bytes).
    let copy = v3.clone();
    good.node
        .catalog
        .write(move |c| c.ingest(&copy, &Provenance::Local("test".into())))
        .await
        .unwrap();
    good.node
        .d
        .announce(&Object::Entry(v3.clone()), &good.key.nostr_keys().unwrap())
        .await
        .unwrap();
    eventually(
        "the bad update is refused and kappa 2.0.0 is back",
        || async {
            observer.d.counters().rejected("manifest-policy") >= 2
                && observer.head(&kappa).await == Some((want.0, want.1, true))
        },
    )
    .await;
    assert_eq!(observer.audit_rows_about(&kappa.to_string()).await, 1);
    // The entry verified under the publisher's DID and signs the bad manifest's hash: the
    // publisher did it, and gets the forged-input penalty (the stranger above, whom the
    // node holds nothing else of, got none: no row names it).
    let did = good.key.did();
    let ex = observer
        .catalog
        .read(move |c| c.explain(&did))
        .await
        .unwrap();
    let forged: Vec<_> = ex
        .penalties
        .iter()
        .filter(|p| p.kind == atoll_catalog::PenaltyKind::Forged)
        .collect();
    assert_eq!(forged.len(), 1, "{ex}");
    assert!(forged[0].detail.contains("manifest was refused"), "{ex}");
    assert!(ex.to_string().contains("forged"), "{ex}");

    // After a restart the refused entries are neither fetched nor recorded again.
    let audit = observer.audit_len().await;
    observer = observer.restart(vec![relay.url()]).await;
    assert!(
        observer
            .d
            .relays()
            .wait_synced(crate::support::DEADLINE)
            .await
    );
    let v4 = good
        .publish(&make_app(apps.path(), "kappa", "4.0.0", 10_000))
        .await;
    let want = good.node.head(&kappa).await.unwrap();
    assert_eq!(want.0, v4.sequence);
    eventually("after a restart, kappa 4.0.0 arrives", || async {
        observer.head(&kappa).await == Some((want.0, want.1, true))
    })
    .await;
    assert_eq!(observer.d.counters().rejected("manifest-policy"), 0);
    assert_eq!(observer.audit_len().await, audit);
    assert!(observer.head(&bomb_app).await.is_none());
    observer.catalog.read(|c| c.check()).await.unwrap();

    observer.stop().await;
    bomb_host.stop().await;
    good.node.stop().await;
}

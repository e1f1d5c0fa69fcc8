//! Relays that change while nodes run: the outbox of a trusted publisher (its signed
//! profile names relay B; the node only knows relay A) and relays added and removed by
//! the operator at runtime, persisted across a restart — all through the node's own
//! relay manager (`atoll::node::relays`) over the real catalog and two real relays.

use std::sync::Arc;

use atoll::node::relays::{NodeRelays, RelayOpError};
use atoll_discovery::publish::{self, PublishOptions};
use atoll_discovery::relay::RelaySource;
use atoll_discovery::EmbeddedRelayConfig;
use atoll_registry::AppRef;

use crate::support::{blobs_of, eventually, init_tracing, make_app, Node, Publisher, TestRelay};

/// The node's relay manager with its outbox task, and the task to abort at the end.
fn manage(n: &Node, config: &[String]) -> (Arc<NodeRelays>, tokio::task::JoinHandle<()>) {
    let relays = NodeRelays::new(n.d.clone(), n.catalog.clone(), config, 0.5);
    let task = tokio::spawn(relays.clone().run());
    (relays, task)
}

fn source_of(n: &Node, url: &str) -> Option<RelaySource> {
    n.d.relays()
        .relays()
        .into_iter()
        .find(|(u, _)| u == url)
        .map(|(_, s)| s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trusted_publishers_outbox_is_read_and_dropped_when_it_is_blocked() {
    init_tracing();
    let (a, b) = (TestRelay::start().await, TestRelay::start().await);
    let apps = tempfile::tempdir().unwrap();
    // The publisher writes its profile to A, naming B as its outbox...
    let publisher = Publisher::start(7, vec![a.url()]).await;
    let pd = &publisher.node.d;
    let outbox = vec![b.url()];
    publish::publish_profile_with(pd, &publisher.key, "mover", Some(&outbox))
        .await
        .unwrap();
    // ...then moves to B (at runtime) and publishes an app there only.
    pd.relays()
        .add(&b.url(), RelaySource::Operator)
        .await
        .unwrap();
    assert!(pd.relays().remove(&a.url()).await.unwrap());
    let opts = PublishOptions {
        outbox: Some(outbox.clone()),
        ..PublishOptions::default()
    };
    let dir = make_app(apps.path(), "moved", "1.0.0", 50_000);
    let published = publish::publish_app(
        pd,
        &publisher.node.data_dir(),
        &dir,
        &publisher.key,
        "mover",
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(published.relays, [b.url()], "the entry is on B only");
    let app: AppRef = published.app.parse().unwrap();
    let blobs = blobs_of(&published);

    // The operator's node knows only A.
    let node = Node::start("operator", vec![a.url()]).await;
    let (relays, task) = manage(&node, &[a.url()]);
    let did = publisher.key.did();
    eventually("the node has the profile naming B", || async {
        node.catalog
            .read(move |c| c.publisher_relays(&did))
            .await
            .unwrap()
            == outbox
    })
    .await;
    relays.refresh().await.unwrap();
    assert_eq!(
        source_of(&node, &b.url()),
        None,
        "an untrusted outbox is not read"
    );
    assert_eq!(node.head(&app).await, None);

    // Trusted (pinned): the node reads B and finds the entry there.
    node.catalog
        .write(move |c| {
            c.pin(&did, "test")?;
            c.recompute_trust()
        })
        .await
        .unwrap();
    eventually("the node finds the entry on B", || async {
        node.head(&app).await.is_some_and(|h| h.2) && node.holds(&blobs).await
    })
    .await;
    let list = relays.list().await.unwrap();
    let shown = list.iter().find(|r| r.url == b.url()).expect("B is listed");
    assert_eq!(shown.reason, format!("outbox of {did} (pinned)"));
    assert!(matches!(shown.source, Some(RelaySource::Outbox { .. })));

    // Blocked: B is dropped.
    node.catalog
        .write(move |c| {
            c.unpin(&did)?;
            c.block(&did, "test")?;
            c.recompute_trust()
        })
        .await
        .unwrap();
    eventually("the node drops B", || async {
        source_of(&node, &b.url()).is_none()
    })
    .await;
    assert!(relays
        .list()
        .await
        .unwrap()
        .iter()
        .all(|r| r.url != b.url()));

    task.abort();
    node.stop().await;
    publisher.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relays_added_and_removed_at_runtime_persist_across_a_restart() {
    init_tracing();
    let (a, b) = (TestRelay::start().await, TestRelay::start().await);
    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(8, vec![b.url()]).await;
    let first = publisher
        .publish(&make_app(apps.path(), "on-b", "1.0.0", 20_000))
        .await;
    let app: AppRef = first.app.parse().unwrap();

    let embedded = |c: &mut atoll_discovery::DiscoveryConfig| {
        c.embedded_relay = Some(EmbeddedRelayConfig {
            bind: std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
            ..EmbeddedRelayConfig::default()
        });
    };
    let node = Node::start_with("operator", vec![a.url()], embedded).await;
    let (relays, task) = manage(&node, &[a.url()]);

    // Hostile input is refused, saying what is wrong; the embedded relay stays.
    let err = relays.add("http://127.0.0.1:1").await.unwrap_err();
    assert!(matches!(err, RelayOpError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("ws:// or wss://"), "{err}");
    let own = node.d.embedded_relay_url().unwrap();
    let err = relays.remove(&own).await.unwrap_err();
    assert!(matches!(err, RelayOpError::Embedded(_)), "{err}");
    let err = relays.remove("ws://127.0.0.1:1").await.unwrap_err();
    assert!(matches!(err, RelayOpError::NotFound(_)), "{err}");

    // Added at runtime: synced from its cursor at once.
    let report = relays.add(&b.url()).await.unwrap();
    assert!(report.message.starts_with("added"), "{}", report.message);
    assert_eq!(source_of(&node, &b.url()), Some(RelaySource::Operator));
    eventually("the node syncs the relay added at runtime", || async {
        node.head(&app).await.is_some()
    })
    .await;

    // Persisted: after a restart (config still only A) B is used again.
    task.abort();
    let choices = node.catalog.read(|c| c.relay_choices()).await.unwrap();
    let node = node
        .restart_with(vec![a.url()], |c| {
            embedded(c);
            atoll::node::relays::startup(c, &choices);
        })
        .await;
    assert_eq!(source_of(&node, &b.url()), Some(RelaySource::Operator));
    let (relays, task) = manage(&node, &[a.url()]);
    let second = publisher
        .publish(&make_app(apps.path(), "after-restart", "1.0.0", 20_000))
        .await;
    let second: AppRef = second.app.parse().unwrap();
    eventually("the restarted node syncs B", || async {
        node.head(&second).await.is_some()
    })
    .await;

    // Removed: its session stops, and it stays removed across a restart. A configured
    // relay is disabled, not forgotten, and comes back when added again.
    relays.remove(&b.url()).await.unwrap();
    assert_eq!(source_of(&node, &b.url()), None);
    let report = relays.remove(&a.url()).await.unwrap();
    assert!(report.message.starts_with("disabled"), "{}", report.message);
    assert_eq!(source_of(&node, &a.url()), None);
    task.abort();
    let choices = node.catalog.read(|c| c.relay_choices()).await.unwrap();
    let node = node
        .restart_with(vec![a.url()], |c| {
            embedded(c);
            atoll::node::relays::startup(c, &choices);
        })
        .await;
    assert_eq!(
        source_of(&node, &b.url()),
        None,
        "a removed relay stays removed"
    );
    assert_eq!(
        source_of(&node, &a.url()),
        None,
        "a disabled relay stays disabled"
    );
    let (relays, task) = manage(&node, &[a.url()]);
    let report = relays.add(&a.url()).await.unwrap();
    assert!(
        report.message.starts_with("re-enabled"),
        "{}",
        report.message
    );
    assert_eq!(source_of(&node, &a.url()), Some(RelaySource::Config));
    assert!(node
        .catalog
        .read(|c| c.relay_choices())
        .await
        .unwrap()
        .is_empty());

    task.abort();
    node.stop().await;
    publisher.node.stop().await;
}

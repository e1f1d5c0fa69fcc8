//! NAT through a self-hosted iroh relay: the real `iroh-relay --dev` server of the iroh
//! project in its own process. The origin names the relay and only an unreachable direct
//! address (as a node behind NAT would: its private address is no use to others), and
//! another node still gets every blob of its entry, verified. Without the relay URL, the
//! same origin cannot be reached at all.

use atoll_discovery::blobs::{BlobNode, BlobSource, FetchError, Fetcher, SourceKind};
use atoll_discovery::{FetchLimits, IrohConfig};
use atoll_registry::objects::BlobRef;
use iroh::endpoint::TransportAddrUsage;
use iroh::{EndpointId, TransportAddr};

use crate::iroh_relay::IrohRelayServer;
use crate::support::{blobs_of, eventually, init_tracing, make_app, Node, TestRelay, DEADLINE};

/// Where nothing listens: the origin's only advertised direct address.
const UNREACHABLE: &str = "127.0.0.1:9";

/// How the fetcher's endpoint reaches `peer` now: `relayed`, `direct <addr>` or, with no
/// path in use any more, the last known ones.
async fn path_to(node: &BlobNode, peer: EndpointId) -> String {
    let Some(info) = node.endpoint().remote_info(peer).await else {
        return "unknown (no remote info)".into();
    };
    let describe = |a: &TransportAddr| match a {
        TransportAddr::Relay(url) => format!("relayed via {url}"),
        TransportAddr::Ip(ip) => format!("direct {ip}"),
        other => format!("{other:?}"),
    };
    let active: Vec<String> = info
        .addrs()
        .filter(|a| matches!(a.usage(), TransportAddrUsage::Active))
        .map(|a| describe(a.addr()))
        .collect();
    if active.is_empty() {
        let known: Vec<String> = info.addrs().map(|a| describe(a.addr())).collect();
        format!("no path in use now; known: {}", known.join(", "))
    } else {
        active.join(", ")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_origin_reachable_only_through_its_iroh_relay_serves_its_blobs() {
    init_tracing();
    let iroh_relay = IrohRelayServer::start();
    let relay = TestRelay::start().await;
    let origin = Node::start_with("origin", vec![relay.url()], |cfg| {
        cfg.iroh.relays = vec![iroh_relay.url()];
        cfg.iroh.advertise = vec![UNREACHABLE.parse().unwrap()];
    })
    .await;
    tokio::time::timeout(DEADLINE, origin.d.blobs().home_relay_connected())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the origin never connected to its home relay {}:\n{}",
                iroh_relay.url(),
                iroh_relay.log()
            )
        });
    let status = origin.d.status().await;
    let relay_url = format!("{}/", iroh_relay.url());
    assert_eq!(status.iroh.advertised, [UNREACHABLE]);
    assert_eq!(status.blob_addrs, [UNREACHABLE]);
    assert_eq!(status.iroh.relays, std::slice::from_ref(&relay_url));
    assert!(
        status
            .iroh
            .home_relays
            .iter()
            .any(|h| h.connected && h.url == relay_url),
        "{:?}",
        status.iroh.home_relays
    );
    assert!(status.iroh.bound.iter().all(|b| b != UNREACHABLE));

    // The signed entry names the relay and the unreachable address only.
    let key = atoll_registry::Keypair::from_seed([31; 32]);
    let apps = tempfile::tempdir().unwrap();
    let dir = make_app(apps.path(), "natted", "1.0.0", 3 << 20);
    let published = atoll_discovery::publish::publish_app(
        &origin.d,
        &origin.data_dir(),
        &dir,
        &key,
        "natted",
        &Default::default(),
    )
    .await
    .unwrap();
    let entry = atoll_registry::Envelope::from_slice(
        &std::fs::read(published.bundle.join("entry.json")).unwrap(),
    )
    .unwrap()
    .verify::<atoll_registry::Entry>()
    .unwrap();
    assert_eq!(entry.origin.addrs, [UNREACHABLE]);
    assert_eq!(entry.origin.relays, std::slice::from_ref(&relay_url));
    let blobs = blobs_of(&published);
    let (image, image_size) = *blobs.iter().max_by_key(|(_, size)| *size).unwrap();

    // Control: the same origin at its advertised address alone cannot be reached.
    let lone_dir = tempfile::tempdir().unwrap();
    let lone = BlobNode::spawn(
        &IrohConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..IrohConfig::default()
        },
        lone_dir.path(),
        iroh::SecretKey::generate(),
        true,
    )
    .await
    .unwrap();
    let origin_id: EndpointId = origin.d.node_id().parse().unwrap();
    let limits = FetchLimits {
        connect_timeout: std::time::Duration::from_secs(3),
        ..FetchLimits::default()
    };
    let fetcher = Fetcher::new(lone.clone(), None, limits);
    let want = BlobRef {
        hash: image,
        size: image_size,
    };
    let direct_only = BlobSource::node(
        SourceKind::Origin,
        origin_id,
        vec![UNREACHABLE.parse().unwrap()],
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let err = fetcher
        .fetch(&want, std::slice::from_ref(&direct_only), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unavailable { .. }), "{err}");
    // With the relay URL the entry names, the same fetcher gets it.
    let through_relay = direct_only.with_relays(vec![relay_url.parse().unwrap()]);
    let got = fetcher
        .fetch(&want, &[through_relay], &cancel)
        .await
        .unwrap();
    assert_eq!(got.bytes, image_size);
    println!(
        "relayed fetch (a node with no relays of its own): {image_size} bytes, path now: {}",
        path_to(&lone, origin_id).await
    );
    lone.shutdown().await;

    // A node with no iroh relays configured syncs the entry over Nostr and fetches every
    // blob from the origin through the relay the entry names.
    let fetcher_node = Node::start("fetcher", vec![relay.url()]).await;
    eventually("the fetcher holds every blob of the entry", || async {
        fetcher_node.holds(&blobs).await
    })
    .await;
    let bytes = fetcher_node
        .d
        .blobs()
        .get_bytes(&image, image_size)
        .await
        .unwrap();
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(dir.join("images/web.oci.tar")).unwrap()
    );
    println!(
        "swarm fetch through the origin's iroh relay: path now: {}",
        path_to(fetcher_node.d.blobs(), origin_id).await
    );
    fetcher_node.stop().await;
    origin.stop().await;
}

/// A node bound to all interfaces without `advertise` names the interface addresses its
/// endpoint found (never 0.0.0.0), with its bound port; with `advertise`, exactly those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unspecified_bind_names_interface_addresses_unless_advertise_is_set() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let any = IrohConfig {
        bind: "0.0.0.0:0".parse().unwrap(),
        ..IrohConfig::default()
    };
    let node = BlobNode::spawn(&any, dir.path(), iroh::SecretKey::generate(), true)
        .await
        .unwrap();
    let port = node.bound_sockets()[0].port();
    eventually("the endpoint finds its interface addresses", || async {
        !node.addrs().is_empty()
    })
    .await;
    let addrs = node.addrs();
    assert!(
        addrs
            .iter()
            .all(|a| !a.ip().is_unspecified() && a.port() == port),
        "{addrs:?} (bound {:?})",
        node.bound_sockets()
    );
    assert!(addrs.len() <= atoll_discovery::MAX_ADDRS);
    println!("0.0.0.0:{port} names {addrs:?}");
    node.shutdown().await;

    let dir = tempfile::tempdir().unwrap();
    let advertised = IrohConfig {
        advertise: vec!["192.0.2.10:7880".parse().unwrap()],
        ..any
    };
    let node = BlobNode::spawn(&advertised, dir.path(), iroh::SecretKey::generate(), true)
        .await
        .unwrap();
    assert_eq!(node.addrs(), advertised.advertise);
    node.shutdown().await;
}

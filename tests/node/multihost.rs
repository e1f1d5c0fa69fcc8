//! The swarm across hosts: Linux network namespaces the test makes and removes itself
//! (`netns.rs`), each node a separate `atoll node` process with its own data dir and
//! config (`hosts.rs`):
//!
//! * `net`: the third-party Nostr relay and the iroh project's relay server;
//! * `pub`: the publisher's node behind a NAT (MASQUERADE, nothing new comes in);
//! * `mirror`: a node on the open network that mirrors;
//! * the operator: a node in the root namespace, on rootless podman.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::hosts::{iroh_relay_url, nostr_url, HostNode, IrohRelay, NostrRelay};
use super::netns::{Host, Hosts, MIRROR_IP, OPERATOR_IP, PUB_IP, ROUTER_IP};
use super::{build_images, podman_user, repo};

/// Copy a sample app into `dir` (manifest, icon, images), with `edit` applied to its
/// manifest text.
fn sample(dir: &std::path::Path, app: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let src = repo().join("apps").join(app);
    let dst = dir.join(app);
    std::fs::create_dir_all(dst.join("images")).unwrap();
    for f in ["manifest.yml", "icon.svg"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    for img in std::fs::read_dir(src.join("images")).unwrap() {
        let img = img.unwrap().path();
        std::fs::copy(&img, dst.join("images").join(img.file_name().unwrap())).unwrap();
    }
    let text = std::fs::read_to_string(dst.join("manifest.yml")).unwrap();
    std::fs::write(dst.join("manifest.yml"), edit(text)).unwrap();
    dst
}

/// A node's config: its relay on `net`, its iroh endpoint bound to `bind`.
fn config(listen: &str, bind: &str) -> String {
    format!(
        "listen = \"{listen}\"\n[relays]\nembedded = false\nexternal = [\"{}\"]\n\
         [iroh]\nbind = \"{bind}\"\n",
        nostr_url()
    )
}

/// pub's connections leave through the NAT (seen from its router's address), and
/// nothing reaches pub from outside: not without a route, not with one through the
/// router (FORWARD drops what is new), not the router itself.
fn nat_lets_out_and_nothing_in(hosts: &Hosts) {
    use std::net::{TcpListener, TcpStream};
    let connect = |host: Host, to: &str| {
        let to: std::net::SocketAddr = to.parse().unwrap();
        hosts.within(host, move || {
            TcpStream::connect_timeout(&to, Duration::from_secs(2)).map(|_| ())
        })
    };
    let on_pub = hosts.within(Host::Pub, || TcpListener::bind((PUB_IP, 7999)).unwrap());
    let on_mirror = hosts.within(Host::Mirror, || {
        TcpListener::bind((MIRROR_IP, 7999)).unwrap()
    });
    // Out: pub reaches the mirror, as the router's address.
    connect(Host::Pub, &format!("{MIRROR_IP}:7999")).expect("pub cannot reach the mirror");
    let (_, peer) = on_mirror.accept().unwrap();
    assert_eq!(
        peer.ip().to_string(),
        ROUTER_IP,
        "pub's connection was not NAT'd"
    );
    // In: nothing.
    let pub_addr = format!("{PUB_IP}:7999");
    assert!(
        connect(Host::Mirror, &pub_addr).is_err(),
        "the mirror reached pub"
    );
    assert!(connect(Host::Net, &pub_addr).is_err(), "net reached pub");
    assert!(
        std::net::TcpStream::connect_timeout(&pub_addr.parse().unwrap(), Duration::from_secs(2))
            .is_err(),
        "the root namespace reached pub"
    );
    assert!(
        connect(Host::Mirror, &format!("{ROUTER_IP}:7999")).is_err(),
        "the router accepted a connection from outside"
    );
    let via = |op: &str| {
        hosts.exec(
            Host::Mirror,
            &["ip", "route", op, "10.232.0.0/24", "via", ROUTER_IP],
        );
    };
    via("add");
    let forwarded = connect(Host::Mirror, &pub_addr);
    via("del");
    assert!(
        forwarded.is_err(),
        "the router forwarded a new connection from outside to pub"
    );
    drop(on_pub);
}

#[test]
fn multihost_publish_behind_nat_mirror_and_operator() {
    let _podman = podman_user();
    build_images();
    let hosts = Hosts::up();
    let prefix = hosts.prefix().to_owned();
    scenario(&hosts);
    drop(hosts);
    let left = Hosts::leftovers(&prefix);
    assert!(left.is_empty(), "the multi-host test left {left:?}");
}

/// A panic with the hosts up removes them all the same.
#[test]
fn multihost_hosts_are_removed_after_a_panic() {
    let prefix = std::panic::catch_unwind(|| {
        let hosts = Hosts::up();
        let prefix = hosts.prefix().to_owned();
        std::panic::panic_any(prefix);
    })
    .unwrap_err()
    .downcast::<String>()
    .expect("the panic carries the prefix");
    let left = Hosts::leftovers(&prefix);
    assert!(left.is_empty(), "a panic left {left:?}");
}

fn scenario(hosts: &Hosts) {
    nat_lets_out_and_nothing_in(hosts);
    let dir = tempfile::tempdir().unwrap();
    let _nostr = NostrRelay::start(hosts, dir.path());
    let _iroh = IrohRelay::start(hosts, dir.path());
    // Both relays answer from behind the NAT.
    let relay = iroh_relay_url();
    let answer = hosts.within(Host::Pub, move || {
        reqwest::blocking::get(format!("{relay}/")).map(|r| r.status().as_u16())
    });
    assert_eq!(answer.ok(), Some(200), "the iroh relay, from pub");
    let started = Instant::now();

    // pub: its key, its apps published with its node stopped, then its node behind
    // the NAT.
    let mut publisher = HostNode::prepare(
        "pub",
        Some(Host::Pub),
        &config("127.0.0.1:7878", &format!("{PUB_IP}:7880")),
    );
    let key: Value =
        serde_json::from_str(&publisher.cli(hosts, &["key", "new", "pub", "--json"])).unwrap();
    let did = key["did"].as_str().unwrap().to_owned();
    let apps = tempfile::tempdir().unwrap();
    for app in ["hello-static", "two-tier"] {
        let dir = sample(apps.path(), app, |m| m);
        publisher.cli(
            hosts,
            &["app", "publish", dir.to_str().unwrap(), "--key", "pub"],
        );
    }
    publisher.launch(hosts);

    let mirror = HostNode::start(
        hosts,
        "mirror",
        Some(Host::Mirror),
        &config("127.0.0.1:7878", &format!("{MIRROR_IP}:7880")),
    );
    let operator = HostNode::start(
        hosts,
        "operator",
        None,
        &config("127.0.0.1:0", &format!("{OPERATOR_IP}:0")),
    );
    for node in [&mirror, &operator] {
        node.until(
            hosts,
            "/api/v1/apps?per_page=200",
            Duration::from_secs(120),
            "pub's entries through the relay on net",
            |v| {
                ["hello-static", "two-tier"].iter().all(|app| {
                    v["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|a| a["app"] == *app && a["publisher"] == did)
                })
            },
        );
    }
    eprintln!(
        "[multihost] pub's entries reached mirror and operator in {:?}",
        started.elapsed()
    );
}

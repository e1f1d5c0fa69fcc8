//! The swarm across hosts: Linux network namespaces the test makes and removes itself
//! (`netns.rs`), each node a separate `atoll node` process with its own data dir and
//! config (`hosts.rs`):
//!
//! * `net`: the third-party Nostr relay and the iroh project's relay server;
//! * `pub`: the publisher's node behind a NAT (MASQUERADE, nothing new comes in);
//! * `mirror`: a node on the open network that mirrors;
//! * the operator: a node in the root namespace, on rootless podman.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::hosts::{iroh_relay_url, nostr_url, HostNode, IrohRelay, NostrRelay};
use super::netns::{Host, Hosts, MIRROR_IP, OPERATOR_IP, PUB_IP, ROUTER_IP};
use super::{build_images, podman_user, repo};

/// Copy a sample app into `dir` (manifest, icon, images), with `edit` applied to its
/// manifest text.
fn sample(dir: &std::path::Path, app: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let src = repo().join("apps").join(app);
    let dst = dir.join(app);
    std::fs::create_dir_all(dst.join("images")).unwrap();
    for f in ["manifest.yml", "icon.svg", "screenshot.png"] {
        if src.join(f).exists() {
            std::fs::copy(src.join(f), dst.join(f)).unwrap();
        }
    }
    for img in std::fs::read_dir(src.join("images")).unwrap() {
        let img = img.unwrap().path();
        std::fs::copy(&img, dst.join("images").join(img.file_name().unwrap())).unwrap();
    }
    let text = std::fs::read_to_string(dst.join("manifest.yml")).unwrap();
    std::fs::write(dst.join("manifest.yml"), edit(text)).unwrap();
    dst
}

/// A node's config: its relay on `net`, its iroh endpoint bound to `bind` with `iroh`
/// lines more, then `tables`.
fn config(listen: &str, bind: &str, iroh: &str, tables: &str) -> String {
    format!(
        "listen = \"{listen}\"\n[relays]\nembedded = false\nexternal = [\"{}\"]\n\
         [iroh]\nbind = \"{bind}\"\n{iroh}{tables}",
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

/// The apps of `publisher` a node lists, waiting (bounded) until it lists every one of
/// `apps` with its manifest fetched (over iroh, from the origin or a mirror).
fn wait_listed(hosts: &Hosts, node: &HostNode, publisher: &str, apps: &[(&str, &str)]) -> Value {
    node.until(
        hosts,
        "/api/v1/apps?per_page=200",
        Duration::from_secs(180),
        &format!("listing {apps:?} of {publisher}"),
        |v| {
            apps.iter().all(|(app, version)| {
                v["items"].as_array().into_iter().flatten().any(|a| {
                    a["app"] == *app
                        && a["publisher"] == publisher
                        && a["version"] == *version
                        && a["description"] != ""
                })
            })
        },
    )
}

/// Publish an app through pub's running node (`--node`), from pub's host.
fn publish(hosts: &Hosts, publisher: &HostNode, dir: &std::path::Path) {
    publisher.cli(
        hosts,
        &[
            "app",
            "publish",
            dir.to_str().unwrap(),
            "--key",
            "pub",
            "--node",
            &publisher.url,
        ],
    );
}

/// A job's events as they came, each with the time since `t0`.
struct Timed {
    events: Vec<(Duration, Value)>,
    /// From the request to the last event.
    total: Duration,
}

impl Timed {
    fn last(&self) -> &Value {
        &self.events.last().expect("a job with no event").1
    }

    /// The time the blob transfer took: from the first fetch event to the first event
    /// of a later stage.
    fn transfer(&self) -> Option<Duration> {
        let fetching = |e: &Value| {
            e["stage"] == "fetch"
                || e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("fetching"))
        };
        let start = self.events.iter().position(|(_, e)| fetching(e))?;
        let end = self.events[start..].iter().find(|(_, e)| !fetching(e))?;
        Some(end.0 - self.events[start].0)
    }

    /// Each image blob the job fetched (from its `fetch` events): the paths its bytes
    /// took, in order, and the source it was complete from.
    fn images(&self) -> Vec<Transfer> {
        let mut out: Vec<Transfer> = Vec::new();
        for (t, e) in &self.events {
            let f = &e["fetch"];
            if f["kind"] != "image" {
                continue;
            }
            let name = f["name"].as_str().unwrap_or("").to_owned();
            let i = match out.iter().position(|x| x.name == name) {
                Some(i) => i,
                None => {
                    out.push(Transfer {
                        name,
                        first: *t,
                        ..Transfer::default()
                    });
                    out.len() - 1
                }
            };
            let x = &mut out[i];
            if let Some(p) = f["path"].as_str() {
                if x.paths.last().map(String::as_str) != Some(p) {
                    x.paths.push(p.to_owned());
                }
            }
            x.state = f["state"].as_str().unwrap_or("").to_owned();
            x.bytes = f["total"].as_u64().unwrap_or(x.bytes);
            if x.state == "done" {
                x.took = Some(*t - x.first);
                x.source_kind = f["source_kind"].as_str().unwrap_or("").to_owned();
                x.source_id = f["source_id"].as_str().unwrap_or("").to_owned();
            }
        }
        out
    }

    /// For the figures table: the hop, the path iroh took, the images, the image
    /// transfer alone, the whole fetch stage and the whole job.
    fn row(&self, hop: &str) -> Row {
        let images = self.images();
        let mut paths: Vec<String> = Vec::new();
        for x in &images {
            let p = if x.paths.is_empty() {
                format!("none ({})", x.state)
            } else {
                x.paths.join(" → ")
            };
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        let sizes: Vec<String> = images
            .iter()
            .map(|x| match x.source_id.get(..8) {
                Some(id) => format!("{} KiB from {} {id}", x.bytes / 1024, x.source_kind),
                None => format!("{} KiB held, none fetched", x.bytes / 1024),
            })
            .collect();
        let took: Vec<String> = images
            .iter()
            .map(|x| {
                x.took
                    .map_or(format!("({})", x.state), |t| format!("{t:.2?}"))
            })
            .collect();
        let dash = |v: Vec<String>, sep: &str| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(sep)
            }
        };
        Row([
            hop.to_owned(),
            dash(paths, ", "),
            if sizes.is_empty() {
                "none fetched (held)".to_owned()
            } else {
                sizes.join(", ")
            },
            dash(took, " + "),
            self.transfer()
                .map_or("-".to_owned(), |t| format!("{t:.2?}")),
            format!("{:.2?}", self.total),
        ])
    }

    /// Every image came complete from a source of `kind` (and node `id`, if given), over
    /// a path iroh named.
    fn assert_images_from(&self, kind: &str, id: Option<&str>) {
        let images = self.images();
        assert!(
            !images.is_empty(),
            "no image fetch events: {:?}",
            self.events
        );
        for x in &images {
            assert_eq!(x.state, "done", "{}: {:?}", x.name, self.events);
            assert_eq!(x.source_kind, kind, "{}: {:?}", x.name, self.events);
            if let Some(id) = id {
                assert_eq!(x.source_id, id, "{}: {:?}", x.name, self.events);
            }
            assert!(
                !x.paths.is_empty(),
                "{}: no path: {:?}",
                x.name,
                self.events
            );
        }
    }
}

/// A row of the figures table (see [`print_table`]).
struct Row([String; 6]);

/// The figures table, columns aligned, every line prefixed for grep.
fn print_table(rows: &[Row]) {
    let head = [
        "hop",
        "iroh path",
        "image blobs",
        "image transfer (each)",
        "fetch stage",
        "install job",
    ];
    let mut width = head.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(&r.0) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let cells: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        eprintln!("[multihost] | {} |", cells.join(" | "));
    };
    line(head);
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    eprintln!("[multihost] |-{}-|", rule.join("-|-"));
    for r in rows {
        line([&r.0[0], &r.0[1], &r.0[2], &r.0[3], &r.0[4], &r.0[5]]);
    }
}

/// One image blob's transfer within a job.
#[derive(Default)]
struct Transfer {
    name: String,
    /// When its first fetch event came.
    first: Duration,
    /// From its first fetch event to `done`.
    took: Option<Duration>,
    paths: Vec<String>,
    state: String,
    source_kind: String,
    source_id: String,
    bytes: u64,
}

/// Follow a job's server-sent events to the end (the node is in the root namespace),
/// each with the time it arrived since `t0`.
fn follow_timed(node: &HostNode, events: &str, t0: Instant) -> Timed {
    let mut out = Vec::new();
    super::job_events(&node.url, events, |ev| out.push((t0.elapsed(), ev)));
    Timed {
        events: out,
        total: t0.elapsed(),
    }
}

/// Run an action on the operator's node (uninstall purges) and follow its job.
fn act(hosts: &Hosts, node: &HostNode, action: &str, app: &str) -> Timed {
    let t0 = Instant::now();
    let body = json!({ "app": app, "purge": action == "uninstall" });
    let (s, job) = node.post(hosts, &format!("/api/v1/actions/{action}"), &body);
    assert_eq!(s, 202, "[{}] {action} {app}: {job}", node.name);
    follow_timed(node, job["events"].as_str().unwrap(), t0)
}

/// The auto-update job the node starts after log line `from`, followed to the end.
fn auto_update(node: &HostNode, from: usize) -> (usize, Timed) {
    let (i, line) = node.log.wait_for(
        from,
        &["auto-update: a newer verified version", "job="],
        Duration::from_secs(120),
    );
    let t0 = Instant::now();
    let job = line
        .split("job=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .trim_matches('"')
        .to_owned();
    (
        i + 1,
        follow_timed(node, &format!("/api/v1/jobs/{job}/events"), t0),
    )
}

/// The podman CLI, as the rootless user, in one of the operator's app containers.
fn exec_in_app(node: &HostNode, args: &[&str]) -> String {
    let id = atoll_registry::Hash::of(node.home.path().display().to_string().as_bytes()).to_hex();
    let label = format!("label=io.atoll.node=atoll-{}", &id[..10]);
    let out = super::crash::podman(&["ps", "--filter", &label, "--format", "{{.Names}}"]);
    let name = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_else(|| panic!("[{}] no running container", node.name))
        .to_owned();
    let mut all = vec!["exec", name.as_str()];
    all.extend_from_slice(args);
    let out = super::crash::podman(&all);
    assert!(
        out.status.success(),
        "podman {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET a port on the root namespace's loopback (an installed app's web port).
fn app_answers(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::blocking::get(&url) {
            if r.status().is_success() {
                return r.text().unwrap_or_default();
            }
        }
        assert!(Instant::now() < deadline, "{url} did not answer");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The one installed app of a node, once it is at `version` and running healthy.
fn installed_at(hosts: &Hosts, node: &HostNode, app: &str, version: &str) -> Value {
    node.until(
        hosts,
        "/api/v1/installed",
        Duration::from_secs(120),
        &format!("{app} {version} running"),
        |v| {
            v.as_array().into_iter().flatten().any(|a| {
                a["ref"] == app
                    && a["version"] == version
                    && a["state"] == "running"
                    && a["health"] == "healthy"
            })
        },
    )
}

/// Run the CLI in the root namespace with `home`; panic unless it succeeds; its stdout.
fn admin_cli_run(home: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atoll"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("ATOLL_NODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "atoll {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A node's iroh node id (hex), as it logged it.
fn node_id(node: &HostNode) -> String {
    let (_, up) = node
        .log
        .wait_for(0, &["discovery node up", "node="], Duration::from_secs(1));
    up.split("node=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("[{}] no node id in {up:?}", node.name))
        .to_owned()
}

/// The cursor a node recorded for the relay on `net`.
fn cursor(hosts: &Hosts, node: &HostNode) -> u64 {
    let (_, net) = node.get(hosts, "/api/v1/network");
    net["relays"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["url"] == nostr_url())
        .and_then(|r| r["cursor"].as_u64())
        .unwrap_or(0)
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
    let mut nostr = NostrRelay::start(hosts, dir.path());
    let _iroh = IrohRelay::start(hosts, dir.path());
    // Both relays answer from behind the NAT.
    let relay = iroh_relay_url();
    let answer = hosts.within(Host::Pub, move || {
        reqwest::blocking::get(format!("{relay}/")).map(|r| r.status().as_u16())
    });
    assert_eq!(answer.ok(), Some(200), "the iroh relay, from pub");
    let through = format!("relays = [\"{}\"]\n", iroh_relay_url());
    let mut figures: Vec<String> = Vec::new();
    let mut table: Vec<Row> = Vec::new();

    // The operator's CLI, with a home of its own (no admin token): pub's admin allows
    // its iroh endpoint id on the admin channel.
    let admin_cli = tempfile::tempdir().unwrap();
    let admin_id = admin_cli_run(admin_cli.path(), &["node", "admin-id"])
        .trim()
        .to_owned();
    assert_eq!(
        admin_id.len(),
        64,
        "atoll node admin-id printed {admin_id:?}"
    );

    // pub: its key, its node behind the NAT, reachable through the iroh relay on net.
    let mut publisher = HostNode::start(
        hosts,
        "pub",
        Some(Host::Pub),
        &config(
            "127.0.0.1:7878",
            &format!("{PUB_IP}:7880"),
            &format!("{through}advertise = [\"{PUB_IP}:7880\"]\n"),
            &format!("[admin]\niroh_keys = [\"{admin_id}\"]\n"),
        ),
    );
    let key: Value =
        serde_json::from_str(&publisher.cli(hosts, &["key", "new", "pub", "--json"])).unwrap();
    let did = key["did"].as_str().unwrap().to_owned();
    let hello_ref = format!("{did}/hello-static");
    let two_tier_ref = format!("{did}/two-tier");
    let apps = tempfile::tempdir().unwrap();
    // hello-static with a data volume, so a rollback can be seen to keep the data.
    let with_data = |version: &'static str, health: &'static str| {
        move |m: String| {
            m.replace("version: 1.0.0", &format!("version: {version}"))
                .replace("GREETING: hello", &format!("GREETING: hello-{version}"))
                .replace(
                    "read_only: true",
                    "read_only: true\n    volumes: [ { name: data, path: /data } ]",
                )
                .replace(
                    "http: { port: 8080, path: / }",
                    &format!("http: {{ port: 8080, path: {health} }}"),
                )
        }
    };
    let mirror = HostNode::start(
        hosts,
        "mirror",
        Some(Host::Mirror),
        &config(
            "127.0.0.1:7878",
            &format!("{MIRROR_IP}:7880"),
            &format!("{through}advertise = [\"{MIRROR_IP}:7880\"]\nprefetch_images = true\n"),
            "",
        ),
    );
    let mut operator = HostNode::start(
        hosts,
        "operator",
        None,
        &config(
            "127.0.0.1:0",
            &format!("{OPERATOR_IP}:0"),
            &through,
            &format!("[auto_update]\n\"{hello_ref}\" = \"auto\"\n"),
        ),
    );

    // 1. pub publishes through its running node; mirror and operator find both apps
    //    through the relay on net, their manifests fetched over iroh from behind the NAT.
    let t = Instant::now();
    publish(
        hosts,
        &publisher,
        &sample(apps.path(), "hello-static", with_data("1.0.0", "/")),
    );
    publish(hosts, &publisher, &sample(apps.path(), "two-tier", |m| m));
    for node in [&mirror, &operator] {
        wait_listed(
            hosts,
            node,
            &did,
            &[("hello-static", "1.0.0"), ("two-tier", "1.0.0")],
        );
    }
    figures.push(format!(
        "published → listed on mirror and operator: {:.1?}",
        t.elapsed()
    ));

    // The operator's CLI reads pub's sync status over the admin channel, through pub's
    // NAT (pub's address is unreachable from here: only the iroh relay on net helps).
    let t = Instant::now();
    let remote = format!(
        "iroh://{}?addr={PUB_IP}:7880&relay={}",
        node_id(&publisher),
        iroh_relay_url()
    );
    let ps: Value = serde_json::from_str(&admin_cli_run(
        admin_cli.path(),
        &["--node", &remote, "ps", "--json"],
    ))
    .unwrap();
    assert_eq!(ps, json!([]), "pub's `ps --json` over the admin channel");
    let took = t.elapsed();
    // pub's Nostr relays (the CLI's own home names none): the answer is pub's.
    let relays = admin_cli_run(
        admin_cli.path(),
        &["--node", &remote, "sync", "relay", "list", "--json"],
    );
    assert!(
        relays.contains(&nostr_url()),
        "pub's relays over the admin channel: {relays}"
    );
    figures.push(format!(
        "remote admin: operator CLI → pub's node (behind NAT) `ps --json` over \
         iroh://…&relay=: {took:.1?} (CLI start to answer)"
    ));

    // 2. The operator pins pub, installs hello-static: its image comes over iroh from
    //    pub, through the NAT.
    operator.cli(hosts, &["trust", "pin", &did]);
    operator.until(
        hosts,
        &format!("/api/v1/trust/{did}/explain"),
        Duration::from_secs(30),
        "the pin",
        |x| x["decision"] == "pin",
    );
    let install = act(hosts, &operator, "install", &hello_ref);
    assert!(
        install.last()["error"].is_null(),
        "install: {:?}",
        install.events
    );
    // Through pub's NAT: a direct path here is a hole punched (pub has no inbound).
    install.assert_images_from("origin", Some(&node_id(&publisher)));
    table.push(install.row("hello-static 1.0.0 install: pub (behind NAT) → operator"));
    installed_at(hosts, &operator, &hello_ref, "1.0.0");
    assert!(app_answers(18080).contains("Hello"), "hello-static's page");
    exec_in_app(&operator, &["sh", "-c", "echo kept > /data/marker"]);

    // 3. 1.1.0: the operator (policy auto) updates by itself, health-gated.
    let from = operator.log.len();
    publish(
        hosts,
        &publisher,
        &sample(apps.path(), "hello-static", with_data("1.1.0", "/")),
    );
    let (from, update) = auto_update(&operator, from);
    assert!(
        update.last()["error"].is_null(),
        "auto-update: {:?}",
        update.events
    );
    table.push(update.row("hello-static 1.1.0 auto-update: pub → operator"));
    installed_at(hosts, &operator, &hello_ref, "1.1.0");
    assert_eq!(
        exec_in_app(&operator, &["cat", "/data/marker"]).trim(),
        "kept"
    );

    // 4. 1.2.0 fails its health check: rolled back to 1.1.0, data intact.
    publish(
        hosts,
        &publisher,
        &sample(
            apps.path(),
            "hello-static",
            with_data("1.2.0", "/no-such-page"),
        ),
    );
    let (_, broken) = auto_update(&operator, from);
    let error = broken.last()["error"].as_str().unwrap_or("").to_owned();
    assert!(
        error.contains("rolled back to 1.1.0"),
        "the broken 1.2.0: {:?}",
        broken.events
    );
    table.push(broken.row("hello-static 1.2.0 auto-update (fails health): pub → operator"));
    installed_at(hosts, &operator, &hello_ref, "1.1.0");
    assert_eq!(
        exec_in_app(&operator, &["cat", "/data/marker"]).trim(),
        "kept"
    );
    app_answers(18080);

    // 5. pub goes offline; a fresh operator node installs two-tier from the mirror.
    let mirror_id = node_id(&mirror);
    // The mirror announces an entry once it holds all its blobs (images prefetched).
    operator.until(
        hosts,
        &format!("/api/v1/apps/{two_tier_ref}"),
        Duration::from_secs(120),
        "the mirror's announcement of two-tier",
        |d| {
            d["mirrors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|h| h.as_str().is_some_and(|h| h.contains(&mirror_id)))
        },
    );
    publisher.stop();
    let fresh = HostNode::start(
        hosts,
        "fresh",
        None,
        &config("127.0.0.1:0", &format!("{OPERATOR_IP}:0"), &through, ""),
    );
    wait_listed(hosts, &fresh, &did, &[("two-tier", "1.0.0")]);
    fresh.cli(hosts, &["trust", "pin", &did]);
    fresh.until(
        hosts,
        &format!("/api/v1/trust/{did}/explain"),
        Duration::from_secs(30),
        "the pin",
        |x| x["decision"] == "pin",
    );
    let install = act(hosts, &fresh, "install", &two_tier_ref);
    assert!(
        install.last()["error"].is_null(),
        "two-tier from the mirror: {:?}",
        install.events
    );
    install.assert_images_from("mirror", Some(&mirror_id));
    table.push(install.row("two-tier 1.0.0 install: mirror → fresh operator (pub offline)"));
    installed_at(hosts, &fresh, &two_tier_ref, "1.0.0");
    app_answers(18082);
    let gone = act(hosts, &fresh, "uninstall", &two_tier_ref);
    assert!(gone.last()["error"].is_null(), "{:?}", gone.events);

    // 6. The relay restarts; a node that was down meanwhile catches up from its cursor.
    publisher.restart(hosts);
    let mut mirror = mirror;
    let before = cursor(hosts, &mirror);
    assert!(
        before > 0,
        "the mirror recorded no cursor for {}",
        nostr_url()
    );
    let from = publisher.log.len();
    nostr.stop();
    mirror.stop();
    nostr.restart(hosts);
    publisher.log.wait_for(
        from,
        &["Connected to", &nostr_url()],
        Duration::from_secs(120),
    );
    publish(hosts, &publisher, &sample(apps.path(), "notebook", |m| m));
    wait_listed(hosts, &operator, &did, &[("notebook", "1.0.0")]);
    mirror.restart(hosts);
    wait_listed(hosts, &mirror, &did, &[("notebook", "1.0.0")]);
    let after = cursor(hosts, &mirror);
    assert!(
        after > before,
        "the mirror's cursor did not move: {before} → {after}"
    );

    // 7. Uninstall leaves no container, network or listed app.
    let gone = act(hosts, &operator, "uninstall", &hello_ref);
    assert!(gone.last()["error"].is_null(), "{:?}", gone.events);
    let (_, listed) = operator.get(hosts, "/api/v1/installed");
    assert_eq!(listed, json!([]), "listed after uninstall");
    for node in [&operator, &fresh] {
        let left = super::crash::podman_of(node.home.path());
        assert!(
            left.containers.is_empty() && left.networks.is_empty(),
            "[{}] podman still holds {:?} {:?}",
            node.name,
            left.containers,
            left.networks
        );
    }
    operator.stop();
    eprintln!("[multihost] figures per hop (iroh path as the fetch events named it):");
    print_table(&table);
    for f in &figures {
        eprintln!("[multihost] {f}");
    }
}

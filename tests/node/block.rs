//! Block that blocks, and the CLI as an operator types it, on a real node (relay, iroh,
//! SQLite, rootless podman, Chromium). Two publishers have an app `hello`: the demo
//! publisher (pinned) and `other`, published through the node with the CLI.
//!
//! * A blocked publisher's app is refused on install with any override (CLI and API),
//!   with a reason that says no override helps; update of an installed app of a blocked
//!   publisher is refused too; installed apps of a blocked publisher keep running and say
//!   so (`publisher_blocked` in `GET /installed`, a mark in `atoll ps`).
//! * Block → unblock gives the pin back (score 1 again).
//! * The bare app id works where it is unique (installed apps for stop/update/…) and is
//!   an error listing the full refs where it is not; `ps` has a header, the short ref and
//!   an update column; `update` of an up-to-date app exits 0; `sync status --live` reads
//!   the running node; a wrong admin token is answered with where the right one is.
//! * The marketplace (tests/browser/block.mjs) at 390 px: no horizontal scroll on any
//!   page, the guard refusing the blocked app, the Trust page's blocked rows with unblock.

use super::*;

/// hello-static's image archive, built by the project's script when missing.
fn hello_image() -> PathBuf {
    let image = repo().join("apps/hello-static/images/web.oci.tar");
    if !image.is_file() {
        let status = Command::new("bash")
            .arg(repo().join("scripts/build-images.sh"))
            .arg("hello-static")
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "scripts/build-images.sh hello-static failed"
        );
    }
    image
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// An app `hello` on hello-static's image, with limits and a user, in `dir/<sub>`.
fn hello_in(dir: &Path, sub: &str, name: &str) -> PathBuf {
    let app = dir.join(sub);
    fs::create_dir_all(app.join("images")).unwrap();
    fs::copy(hello_image(), app.join("images/web.oci.tar")).unwrap();
    fs::write(
        app.join("manifest.yml"),
        format!(
            "id: hello\nname: {name}\nversion: 1.0.0\ndescription: Says hello.\n\
             categories: [test]\ncontainers:\n  - name: web\n    image:\n      archive: images/web.oci.tar\n\
             \x20   command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n\
             \x20   ports: [ {{ container: 8080, host: {}, web: true }} ]\n\
             \x20   memory: 48Mi\n    cpus: 0.5\n    user: \"1000:1000\"\n",
            free_port()
        ),
    )
    .unwrap();
    app
}

fn demo_hello(dir: &Path) {
    hello_in(dir, "hello", "Hello");
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 0; its stdout.
fn ok(out: &Output) -> String {
    assert!(out.status.success(), "atoll failed: {}", stderr(out));
    stdout(out)
}

/// Exit 1 with every word of `words` in stderr; its stderr.
fn fails(out: &Output, words: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "expected exit 1: {err}");
    for w in words {
        assert!(err.contains(w), "stderr lacks {w:?}: {err}");
    }
    err
}

fn trust_row(node: &Node, did: &str) -> Value {
    let (_, list) = node.get("/api/v1/trust");
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["did"] == did)
        .cloned()
        .unwrap_or(Value::Null)
}

fn installed_entry(node: &Node, app: &str) -> Value {
    let (_, list) = node.get("/api/v1/installed");
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["ref"] == app)
        .cloned()
        .unwrap_or_else(|| panic!("{app} not in /installed: {list}"))
}

#[test]
fn block_refuses_every_path_and_the_cli_takes_bare_app_ids() {
    let _podman = podman_user();
    let mut node = Node::start(demo_hello, &[]);
    let url = node.url.clone();
    let cli = |args: &[&str]| {
        let mut all = vec!["--node", url.as_str()];
        all.extend_from_slice(args);
        node.cli(&all)
    };
    let t = Some(node.token.as_str());
    let (_, status) = node.get("/api/v1/status");
    let demo = status["demo_publisher"].as_str().unwrap().to_owned();
    let mine = format!("{demo}/hello");

    // A second publisher's `hello`, published through the node with the CLI.
    let keys = ok(&cli(&["key", "new", "other", "--json"]));
    let other: Value = serde_json::from_str(&keys).unwrap();
    let other = other["did"].as_str().unwrap().to_owned();
    let theirs = format!("{other}/hello");
    let dir = tempfile::tempdir().unwrap();
    let their_dir = hello_in(dir.path(), "theirs", "Their hello");
    ok(&cli(&[
        "app",
        "publish",
        their_dir.to_str().unwrap(),
        "--key",
        "other",
    ]));
    let mut matches = Value::Null;
    for _ in 0..300 {
        matches = node.get("/api/v1/resolve/hello").1["matches"].clone();
        let attached = [&mine, &theirs]
            .iter()
            .all(|r| !node.get(&format!("/api/v1/apps/{r}")).1["manifest"].is_null());
        if matches.as_array().is_some_and(|m| m.len() == 2) && attached {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(matches.as_array().map(Vec::len), Some(2), "{matches}");
    let (s, e) = node.get("/api/v1/resolve/Not_An_Id");
    assert_eq!(s, 400, "{e}");

    // The bare id: ambiguous in the catalog, unknown, not installed.
    fails(
        &cli(&["install", "hello"]),
        &["ambiguous", &mine, &theirs, "full ref"],
    );
    fails(
        &cli(&["install", "nope"]),
        &["no app \"nope\" in this node's catalog"],
    );
    fails(
        &cli(&["stop", "hello"]),
        &["no installed app \"hello\"", "atoll install"],
    );
    fails(
        &cli(&["stop", "Hello!"]),
        &["neither <did>/<app> nor an app id"],
    );

    // Block `other`: its app is refused with every override, and says no override helps.
    ok(&cli(&["trust", "block", &other, "--note", "test"]));
    let err = fails(
        &cli(&["install", &theirs, "--override-trust", "--override-stale"]),
        &["refused", "blocked", "no override"],
    );
    assert!(!err.contains("--override-trust"), "{err}");
    let body = json!({"app": theirs, "override_trust": true, "override_stale": true}).to_string();
    let (s, e) = node.post("/api/v1/actions/install", t, &body);
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["error"]["reasons"][0]["reason"], "blocked", "{e}");
    assert_eq!(e["error"]["reasons"][0]["override"], Value::Null, "{e}");
    assert_eq!(e["error"]["overrides"], json!([]), "{e}");
    // A pin while blocked (what the demo node does at every start) does not lift it.
    ok(&cli(&["trust", "pin", &other]));
    fails(
        &cli(&["install", &theirs, "--override-trust"]),
        &["blocked"],
    );
    assert_eq!(trust_row(&node, &other)["blocked"], true);
    assert_eq!(trust_row(&node, &other)["pin_kept"], true);
    let list = ok(&cli(&["trust", "list"]));
    assert!(
        list.lines()
            .any(|l| l.contains(&other) && l.contains("block (pin kept)")),
        "{list}"
    );

    // The demo's hello installs by its full ref; afterwards the bare id names it (the only
    // installed `hello`).
    ok(&cli(&["install", &mine]));
    let ps = ok(&cli(&["ps"]));
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    for col in ["APP", "VERSION", "STATE", "HEALTH", "UPDATE", "URL"] {
        assert!(header.contains(col), "no {col} column: {ps}");
    }
    let row = lines.next().unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..3], ["hello", "1.0.0", "running"], "{ps}");
    assert_eq!(cells[4], "-", "no update column value: {ps}");
    let up = ok(&cli(&["update", "hello"]));
    assert!(up.contains("is up to date (version 1.0.0)"), "{up}");
    ok(&cli(&["stop", "hello"]));
    ok(&cli(&["start", "hello"]));

    // sync status --live while the node runs: from its API, not a second relay.
    let live = ok(&cli(&["sync", "status", "--live"]));
    assert!(live.contains("(live, from the running node)"), "{live}");
    assert!(live.contains("relay "), "{live}");
    let live: Value =
        serde_json::from_str(&ok(&cli(&["sync", "status", "--live", "--json"]))).expect("JSON");
    assert!(
        live["relays"].as_array().is_some_and(|r| !r.is_empty()),
        "{live}"
    );

    // A wrong token: where the right one is; no token: how to send one.
    let wrong = tempfile::tempdir().unwrap();
    let wrong_token = wrong.path().join("admin.token");
    fs::write(&wrong_token, "ab".repeat(32)).unwrap();
    fs::set_permissions(
        &wrong_token,
        <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    let out = atoll_cli(wrong.path(), &["--node", &url, "stop", &mine]);
    let err = fails(&out, &["the token was not accepted", "atoll node token"]);
    assert!(err.contains(&wrong_token.display().to_string()), "{err}");
    let body = json!({"app": mine}).to_string();
    let (s, e) = node.post("/api/v1/actions/stop", Some(&"ab".repeat(32)), &body);
    assert_eq!(s, 401);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not accepted"),
        "{e}"
    );
    let (s, e) = node.post("/api/v1/actions/stop", None, &body);
    assert_eq!(s, 401);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{e}"
    );

    // Block the demo publisher, whose app is installed: it keeps running, marked; an update
    // is refused; nothing is stopped by the block.
    ok(&cli(&["trust", "block", &demo]));
    let entry = installed_entry(&node, &mine);
    assert_eq!(entry["publisher_blocked"], true, "{entry}");
    assert_eq!(entry["state"], "running", "{entry}");
    let msg = entry["publisher_blocked_message"].as_str().unwrap();
    assert!(
        msg.contains("atoll stop") && msg.contains("atoll uninstall"),
        "{msg}"
    );
    let ps = ok(&cli(&["ps"]));
    assert!(ps.contains("running (publisher blocked)"), "{ps}");
    let (s, e) = node.post(
        "/api/v1/actions/update",
        t,
        &json!({"app": mine, "override_trust": true}).to_string(),
    );
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["error"]["reasons"][0]["reason"], "blocked", "{e}");
    assert_eq!(trust_row(&node, &demo)["pin_kept"], true);

    // The marketplace at 390 px, with both publishers blocked; it unblocks the demo one.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/block.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("BLOCKED_REF", &theirs)
        .env("INSTALLED_REF", &mine)
        .env("DEMO_DID", &demo)
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    let demo_row = trust_row(&node, &demo);
    let cleanup = node.cli(&["--node", &url, "uninstall", "hello", "--purge"]);
    assert!(
        browser.success(),
        "block browser test failed; screenshots in {}",
        shots.display()
    );
    // Unblocked in the UI: back to what it was before the block (pinned, score 1).
    assert_eq!(demo_row["blocked"], false, "{demo_row}");
    assert_eq!(demo_row["pinned"], true, "{demo_row}");
    assert_eq!(demo_row["score"], 1.0, "{demo_row}");
    ok(&cleanup);
    // `other` unblocked: it had been pinned while blocked, so it is pinned now.
    ok(&cli(&["trust", "unblock", &other]));
    assert_eq!(trust_row(&node, &other)["pinned"], true);

    // With the node stopped, --live runs a short-lived node of its own, as before.
    assert!(node.terminate().success());
    let live = ok(&node.cli(&["sync", "status", "--live"]));
    assert!(live.starts_with("node "), "{live}");
    assert!(!live.contains("from the running node"), "{live}");
    node.assert_no_podman_left();
}

//! The remote admin channel with a real node: an operator's CLI on "another host" (its
//! own home, holding no admin token) reaches the node with `--node iroh://…` because the
//! node's `[admin] iroh_keys` lists the CLI's endpoint id; it reads, installs (the job's
//! events streaming over iroh) and uninstalls. A CLI with another key is refused with a
//! message naming its id, an unreachable node and a malformed URL are clear errors, and
//! the node keeps serving throughout.

use super::*;

/// `atoll node admin-id` of a home: its CLI's iroh endpoint id.
fn admin_id(home: &Path) -> String {
    let out = atoll_cli(home, &["node", "admin-id"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    id
}

/// Run the CLI of `home` against `node` (an `--node` URL).
fn remote(home: &Path, node: &str, args: &[&str]) -> Output {
    let mut all = vec!["--node", node];
    all.extend_from_slice(args);
    atoll_cli(home, &all)
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if fs::read(&p)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn remote_admin_over_iroh_needs_an_allowed_key_and_no_token() {
    let _podman = podman_user();
    let operator = tempfile::tempdir().unwrap();
    let stranger = tempfile::tempdir().unwrap();
    let id = admin_id(operator.path());
    assert_eq!(admin_id(operator.path()), id, "the CLI's id is made once");
    let mode = fs::metadata(operator.path().join("cli-iroh.key"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let other = admin_id(stranger.path());
    assert_ne!(id, other);

    let apps = tempfile::tempdir().unwrap();
    third_party_app(apps.path());
    let node = Node::start_configured(
        Arc::new(tempfile::tempdir().unwrap()),
        Arc::new(apps),
        &[],
        None,
        None,
        &format!("[admin]\niroh_keys = [\"{id}\"]\n"),
    );
    let (s, net) = node.get("/api/v1/network");
    assert_eq!(s, 200, "{net}");
    let node_id = net["node"]["node_id"].as_str().unwrap();
    let addr = net["node"]["blob_addrs"][0].as_str().unwrap();
    let url = format!("iroh://{node_id}?addr={addr}");
    let (_, apps) = node.get("/api/v1/apps");
    let app = &apps["items"][0];
    assert_eq!(app["app"], "elsewhere", "{apps}");
    let app = format!("{}/elsewhere", app["publisher"].as_str().unwrap());

    // A read and the mutating calls, with no token anywhere in the operator's home.
    let out = remote(operator.path(), &url, &["ps", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, json!([]), "nothing installed yet");
    let out = remote(operator.path(), &url, &["install", &app, "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // `--json` prints every event the job streamed over the channel, the last one done.
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() > 1, "{events:?}");
    assert_eq!(events.last().unwrap()["done"], true, "{events:?}");
    let (_, installed) = node.get("/api/v1/installed");
    assert_eq!(installed[0]["state"], "running", "{installed}");
    let out = remote(operator.path(), &url, &["ps"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("running"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = remote(
        operator.path(),
        &url,
        &["uninstall", &app, "--purge", "--json"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (_, installed) = node.get("/api/v1/installed");
    assert_eq!(installed, json!([]));
    // The CLI never had the token: not in its home, not in anything it printed.
    assert!(!operator.path().join("admin.token").exists());
    assert_eq!(
        files_containing(operator.path(), &node.token),
        Vec::<PathBuf>::new()
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&node.token));

    // Another key is refused, naming the id to add; the node keeps serving.
    for args in [&["ps"][..], &["stop", &app][..]] {
        let out = remote(stranger.path(), &url, args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "this CLI's id {other} is not in the node's [admin] iroh_keys"
            )),
            "{args:?}: {err}"
        );
    }
    let (s, _) = node.get("/api/v1/status");
    assert_eq!(s, 200);

    // A node that does not answer, and malformed URLs: clear errors, nothing dialled.
    let out = remote(
        operator.path(),
        &format!("iroh://{node_id}?addr=127.0.0.1:9"),
        &["ps"],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach the node"), "{err}");
    for (bad, says) in [
        (format!("iroh://{node_id}"), "no address"),
        (format!("iroh://{}?addr={addr}", &node_id[..60]), "64"),
        (format!("iroh://{node_id}?addr=localhost"), "IP:PORT"),
    ] {
        let out = remote(operator.path(), &bad, &["ps"]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(
            err.contains("is not a valid iroh URL") && err.contains(says),
            "{bad}: {err}"
        );
    }

    // The token-holding path is unchanged: over HTTP a mutating call still needs it.
    let (s, _) = node.post(
        "/api/v1/actions/stop",
        None,
        &json!({ "app": app }).to_string(),
    );
    assert_eq!(s, 401);
    let (s, _) = node.get("/api/v1/status");
    assert_eq!(s, 200);
}

//! App dependencies on a real node (relay, iroh, SQLite, rootless podman, Chromium): a
//! publisher signs here and uploads to the node an app B whose manifest depends on its
//! app A (the dependency's `publisher` omitted: the signer's), a dependency cycle, and
//! dependencies no trusted publisher offers. Installing B without its dependency is a
//! 409 naming A (the API, the CLI saying to add `--with-deps`, the UI offering it); with
//! it, A then B in one job, and B's container reaches A's container by `<A>-<container>`
//! over HTTP (its health check depends on it). A cycle and an unresolvable dependency
//! are refused with nothing installed; uninstalling A is refused naming B. When A's
//! network is force-removed (podman then removes every container attached to it, B's
//! too), the node recreates both and B reaches A again.

use super::crash::podman;
use super::guard::{act, wait_badges, Publisher};
use super::*;

/// An app dir with hello-static's image: container `web` serving `/www` on 8080, the
/// manifest lines `extra` appended (dependencies, health).
fn dep_app(dir: &Path, id: &str, port: Option<u16>, extra: &str) -> PathBuf {
    let app = dir.join(id);
    fs::create_dir_all(app.join("images")).unwrap();
    fs::copy(
        repo().join("apps/hello-static/images/web.oci.tar"),
        app.join("images/web.oci.tar"),
    )
    .unwrap();
    let ports = port
        .map(|p| format!("    ports: [ {{ container: 8080, host: {p}, web: true }} ]\n"))
        .unwrap_or_default();
    fs::write(
        app.join("manifest.yml"),
        format!(
            "id: {id}\nname: Dep {id}\nversion: 1.0.0\ndescription: Dependencies test.\n\
             categories: [test]\ncontainers:\n  - name: web\n    image:\n      archive: images/web.oci.tar\n\
             \x20   command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n\
             \x20   init: true\n{ports}{extra}"
        ),
    )
    .unwrap();
    app
}

/// The install name the node gives `<did>/<app>` (src/node/runtime.rs `install_name`).
fn install_name(did: &str, app: &str) -> String {
    let h = atoll_registry::Hash::of(did.as_bytes()).to_hex();
    format!("{app}-{}", &h[..8])
}

/// What B's container gets from `url` (busybox wget inside it; `timeout`, not `wget -T`,
/// which segfaults in Debian 12's busybox-static).
fn fetch_inside(container: &str, url: &str) -> String {
    let out = podman(&[
        "exec", container, "timeout", "5", "wget", "-q", "-O", "-", url,
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait (bounded) until `GET /installed` lists exactly `apps`, all running.
fn wait_running(node: &Node, apps: &[&str]) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        let (_, list) = node.get("/api/v1/installed");
        let rows = list.as_array().cloned().unwrap_or_default();
        let running = rows.iter().filter(|r| r["state"] == "running").count();
        if rows.len() == apps.len()
            && running == apps.len()
            && apps.iter().all(|a| rows.iter().any(|r| r["ref"] == *a))
        {
            return list;
        }
        last = list;
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("never all running: {apps:?}: {last}");
}

fn installed_refs(node: &Node) -> Vec<String> {
    let (_, list) = node.get("/api/v1/installed");
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["ref"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn dependencies_are_offered_installed_first_reached_by_name_and_protected() {
    let _podman = podman_user();
    build_images();
    let image_size = fs::metadata(repo().join("apps/hello-static/images/web.oci.tar"))
        .unwrap()
        .len();
    let demo_apps = tempfile::tempdir().unwrap();
    third_party_app(demo_apps.path());
    let node = Node::start_configured(
        Arc::new(tempfile::tempdir().unwrap()),
        Arc::new(demo_apps),
        &[],
        None,
        None,
        &format!(
            "[api]\nmax_upload_bytes = {}\n[trust]\ninstall_threshold = 0.4\n",
            image_size + (1 << 20)
        ),
    );
    let (_, info) = node.get("/api/v1/node");
    let node_id = info["node_id"].as_str().unwrap().to_owned();
    let publisher = Publisher::new(&node, &node_id, 81);
    let stranger = Publisher::new(&node, &node_id, 82);
    let src = tempfile::tempdir().unwrap();
    let now = atoll_discovery::now_secs();
    let t = Some(node.token.as_str());
    let (s, v) = node.post(
        "/api/v1/trust/pin",
        t,
        &json!({ "did": publisher.did() }).to_string(),
    );
    assert_eq!(s, 200, "{v}");

    // A; B depends on A (publisher omitted: the signer's); B's health check is a fetch of
    // A's page by A's qualified name, so B is ready only if it reaches A.
    let base = dep_app(src.path(), "dep-base", Some(18191), "");
    let user = dep_app(
        src.path(),
        "dep-user",
        None,
        "    health:\n      command: [\"sh\", \"-c\", \"timeout 3 wget -q -O - http://dep-base-web:8080/ | grep -q 'Hello from atoll'\"]\n\
         \x20     interval: 4s\n      timeout: 4s\n      retries: 3\n\
         dependencies:\n  - { app: dep-base, version: \">=1, <2\" }\n",
    );
    let cycle_a = dep_app(
        src.path(),
        "dep-cycle-a",
        None,
        "dependencies:\n  - { app: dep-cycle-b, version: \"*\" }\n",
    );
    let cycle_b = dep_app(
        src.path(),
        "dep-cycle-b",
        None,
        "dependencies:\n  - { app: dep-cycle-a, version: \"*\" }\n",
    );
    let orphan = dep_app(
        src.path(),
        "dep-orphan",
        None,
        "dependencies:\n  - { app: dep-nowhere, version: \"^1\" }\n",
    );
    let untrusting = dep_app(
        src.path(),
        "dep-untrusting",
        None,
        &format!(
            "dependencies:\n  - {{ publisher: \"{}\", app: dep-stranger, version: \"^1\" }}\n",
            stranger.did()
        ),
    );
    let strangers = dep_app(src.path(), "dep-stranger", None, "");
    for (i, dir) in [&base, &user, &cycle_a, &cycle_b, &orphan, &untrusting]
        .into_iter()
        .enumerate()
    {
        let (s, v, _) = publisher.release(dir, 10 + i as u64, now, 3600);
        assert_eq!(s, 200, "{}: {v}", dir.display());
    }
    let (s, v, _) = stranger.release(&strangers, 10, now, 3600);
    assert_eq!(s, 200, "{v}");
    let r = |id: &str| format!("{}/{id}", publisher.did());
    let (a, b) = (r("dep-base"), r("dep-user"));
    for id in [
        "dep-base",
        "dep-user",
        "dep-cycle-a",
        "dep-cycle-b",
        "dep-orphan",
        "dep-untrusting",
    ] {
        wait_badges(&node, &r(id), "1.0.0", &[]);
    }
    let stranger_ref = format!("{}/dep-stranger", stranger.did());
    wait_badges(&node, &stranger_ref, "1.0.0", &["below-threshold"]);

    // The signed manifest names the publisher the author left out.
    let (_, detail) = node.get(&format!("/api/v1/apps/{b}"));
    assert_eq!(
        detail["manifest"]["dependencies"][0]["publisher"],
        publisher.did(),
        "{}",
        detail["manifest"]
    );

    // The plan: A first, by whom, with which trust.
    let (s, plan) = node.get(&format!("/api/v1/apps/{b}/plan"));
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["ok"], true, "{plan}");
    let deps = plan["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 1, "{plan}");
    assert_eq!(deps[0]["ref"], a.as_str());
    assert_eq!(deps[0]["version"], "1.0.0");
    assert_eq!(deps[0]["publisher_name"], "guarded");
    assert!(deps[0]["trust"].as_f64().unwrap() >= 0.4, "{plan}");

    // Without with_deps: a 409 naming A, for the API and the CLI.
    let (s, v) = act(&node, "install", json!({ "app": b }));
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "missing-dependencies", "{v}");
    assert_eq!(v["error"]["missing"][0]["ref"], a.as_str(), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dep-base 1.0.0 by guarded"),
        "{v}"
    );
    let out = node.cli(&["--node", &node.url, "install", &b]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dep-base 1.0.0 by guarded (trust")
            && err.contains(&format!("needed by {b}"))
            && err.contains("add --with-deps"),
        "{err}"
    );

    // A cycle, a dependency nobody offers, one below trust: refused, nothing installed.
    let refused = |app: &str, words: &[&str]| {
        let (s, v) = act(&node, "install", json!({ "app": app, "with_deps": true }));
        assert_eq!(s, 409, "{app}: {v}");
        assert_eq!(v["error"]["code"], "unresolvable-dependencies", "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        for w in words {
            assert!(m.contains(w), "{app}: {w:?} not in {m}");
        }
        let (_, plan) = node.get(&format!("/api/v1/apps/{app}/plan"));
        assert_eq!(plan["ok"], false, "{plan}");
    };
    let (ca, cb) = (r("dep-cycle-a"), r("dep-cycle-b"));
    refused(&ca, &["cycle", &format!("{ca} -> {cb} -> {ca}")]);
    refused(&r("dep-orphan"), &[&r("dep-nowhere"), "not in the catalog"]);
    refused(
        &r("dep-untrusting"),
        &[
            &stranger_ref,
            "below-threshold",
            "below this node's threshold",
        ],
    );
    // The dependency's publisher blocked: refused as blocked (no override), not as below
    // the threshold.
    let trust = |op: &str| {
        let body = json!({ "did": stranger.did() }).to_string();
        let (s, v) = node.post(&format!("/api/v1/trust/{op}"), t, &body);
        assert_eq!(s, 200, "{op}: {v}");
    };
    trust("block");
    refused(
        &r("dep-untrusting"),
        &[&stranger_ref, "(blocked)", "no override"],
    );
    trust("unblock");
    let out = node.cli(&["--node", &node.url, "install", &ca, "--with-deps"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cycle"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(installed_refs(&node).is_empty(), "nothing installed");

    // The UI: the cycle says why; B's page offers A and installs both on one confirm;
    // uninstalling A is refused naming B.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/deps.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("DEPS_APP", &b)
        .env("DEPS_BASE", &a)
        .env("DEPS_CYCLE", &ca)
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    assert!(
        browser.success(),
        "dependencies browser test failed; screenshots in {}",
        shots.display()
    );
    wait_running(&node, &[&a, &b]);
    // B first, then A (no longer needed): both go.
    for app in [&b, &a] {
        let (s, job) = act(&node, "uninstall", json!({ "app": app }));
        assert_eq!(s, 202, "{job}");
        let last = follow(&node, job["events"].as_str().unwrap());
        assert!(last["error"].is_null(), "uninstall {app}: {last}");
    }
    assert!(installed_refs(&node).is_empty(), "both uninstalled");

    // With --with-deps: A, then B, in one job whose steps name their app.
    let out = node.cli(&["--node", &node.url, "install", &b, "--with-deps", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let percents: Vec<u64> = events
        .iter()
        .filter_map(|e| e["percent"].as_u64())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    let first_b = events.iter().position(|e| e["app"] == b.as_str()).unwrap();
    let last_a = events.iter().rposition(|e| e["app"] == a.as_str()).unwrap();
    assert!(last_a < first_b, "A's steps all come before B's: {stdout}");
    let last = events.last().unwrap();
    assert_eq!(last["done"], true, "{last}");
    assert!(last["error"].is_null(), "{last}");
    wait_running(&node, &[&a, &b]);

    // B's container reaches A's by its qualified name, over HTTP.
    let (name_a, name_b) = (
        install_name(&publisher.did(), "dep-base"),
        install_name(&publisher.did(), "dep-user"),
    );
    let container_b = format!("atoll_{name_b}_web");
    let page = fetch_inside(&container_b, "http://dep-base-web:8080/");
    assert!(page.contains("Hello from atoll"), "B got: {page:?}");

    // Uninstalling A is refused while B needs it (API and CLI), purge too.
    for purge in [false, true] {
        let (s, v) = act(&node, "uninstall", json!({ "app": a, "purge": purge }));
        assert_eq!(s, 409, "{v}");
        assert_eq!(v["error"]["code"], "needed-by", "{v}");
        assert_eq!(v["error"]["needed_by"], json!([b]), "{v}");
    }
    let out = node.cli(&["--node", &node.url, "uninstall", &a]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&b) && err.contains("depends on it"), "{err}");

    // A's network force-removed: podman removes every container on it (B's too); the
    // node recreates A's network and both apps, and B reaches A again.
    let out = podman(&["network", "rm", "-f", &format!("atoll_{name_a}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_running(&node, &[&a, &b]);
    let mut page = String::new();
    for _ in 0..60 {
        page = fetch_inside(&container_b, "http://dep-base-web:8080/");
        if page.contains("Hello from atoll") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        page.contains("Hello from atoll"),
        "after recovery B got: {page:?}"
    );

    // B first, then A: nothing left.
    for app in [&b, &a] {
        let (s, job) = act(&node, "uninstall", json!({ "app": app, "purge": true }));
        assert_eq!(s, 202, "{job}");
        let last = follow(&node, job["events"].as_str().unwrap());
        assert!(last["error"].is_null(), "uninstall {app}: {last}");
    }
    assert!(installed_refs(&node).is_empty());
    let left = super::crash::podman_of(node.home.path());
    assert!(
        left.containers.is_empty() && left.networks.is_empty(),
        "left in podman: {:?} {:?}",
        left.containers,
        left.networks
    );
}

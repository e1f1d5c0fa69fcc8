//! The marketplace as a person uses it, end to end in Chromium (tests/browser/journey.mjs)
//! against a real node and rootless podman: install an app and keep the outcome on screen;
//! its publisher ships 1.1.0 with release notes and a new capability, updated after
//! reading the notes and the permission diff; 1.2.0 fails its health check, and the
//! rollback's reason stays; rolling back to 1.0.0 with the warning that data may not go
//! back; uninstall with the data choice. Then the publisher is blocked in the UI, and the
//! block refuses every way in: the app page's guard (no "anyway"), the API with every
//! override, and `atoll install --override-trust` on the command line.

use super::*;

/// A version of the `journey` app: hello-static's image, web on `port`, a `notes` volume;
/// 1.1.0 has release notes, more memory and a capability (the permission diff); 1.2.0's
/// health check asks a path the image does not serve.
fn journey_version(dir: &Path, version: &str, port: u16) -> PathBuf {
    let app = dir.join(format!("journey-{version}"));
    fs::create_dir_all(app.join("images")).unwrap();
    fs::copy(
        repo().join("apps/hello-static/images/web.oci.tar"),
        app.join("images/web.oci.tar"),
    )
    .unwrap();
    let (notes, extra, health) = match version {
        "1.0.0" => ("", "", "/"),
        "1.1.0" => (
            "release_notes: \"Keeps your notes longer: more memory, and port 80 inside.\"\n",
            "    memory: 48Mi\n    capabilities: [NET_BIND_SERVICE]\n",
            "/",
        ),
        _ => (
            "release_notes: \"Checks a health path this image does not serve.\"\n",
            "    memory: 48Mi\n    capabilities: [NET_BIND_SERVICE]\n",
            "/broken-health",
        ),
    };
    fs::write(
        app.join("manifest.yml"),
        format!(
            r#"id: journey
name: Journey Notes
version: {version}
description: Notes served by busybox httpd, for the marketplace journey test.
categories: [productivity]
{notes}containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ {{ container: 8080, host: {port}, web: true }} ]
    volumes: [ {{ name: notes, path: /notes }} ]
{extra}    health:
      http: {{ port: 8080, path: {health} }}
      interval: 1s
      timeout: 1s
      retries: 2
      start_period: 1s
"#
        ),
    )
    .unwrap();
    app
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// Publish `app` through the running node with the CLI's key `pub`.
fn publish(node: &Node, app: &Path) {
    let out = node.cli(&[
        "--node",
        &node.url,
        "app",
        "publish",
        app.to_str().unwrap(),
        "--key",
        "pub",
    ]);
    assert!(
        out.status.success(),
        "publish {}: {}",
        app.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn marketplace_journey_in_chromium() {
    let _podman = podman_user();
    build_images();
    // A demo node (its demo publisher has one other app); the journey's publisher is `pub`.
    let node = Node::start(third_party_app, &[]);
    let out = node.cli(&["key", "new", "pub", "--json"]);
    assert!(out.status.success());
    let did = serde_json::from_slice::<Value>(&out.stdout).unwrap()["did"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = node.post(
        "/api/v1/trust/pin",
        Some(node.token.as_str()),
        &json!({ "did": did, "note": "journey" }).to_string(),
    );
    assert_eq!(s, 200, "{v}");
    let src = tempfile::tempdir().unwrap();
    let port = free_port();
    let versions: Vec<PathBuf> = ["1.0.0", "1.1.0", "1.2.0"]
        .iter()
        .map(|v| journey_version(src.path(), v, port))
        .collect();
    publish(&node, &versions[0]);
    let app = format!("{did}/journey");

    // The browser publishes 1.1.0 and 1.2.0 (this CLI, this home) when the journey gets there.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/journey.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("JOURNEY_APP", &app)
        .env("JOURNEY_PORT", port.to_string())
        .env("JOURNEY_BIN", env!("CARGO_BIN_EXE_atoll"))
        .env("JOURNEY_HOME", node.home.path())
        .env("JOURNEY_V2", &versions[1])
        .env("JOURNEY_V3", &versions[2])
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    let (_, installed) = node.get("/api/v1/installed");
    if installed
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["ref"] == app.as_str()))
    {
        let (s, job) = node.post(
            "/api/v1/actions/uninstall",
            Some(node.token.as_str()),
            &json!({ "app": app, "purge": true }).to_string(),
        );
        if s == 202 {
            follow(&node, job["events"].as_str().unwrap());
        }
    }
    assert!(browser.success(), "tests/browser/journey.mjs failed");

    // The block the browser set refuses every way in, overrides included.
    let (s, v) = node.post(
        "/api/v1/actions/install",
        Some(node.token.as_str()),
        &json!({ "app": app, "override_trust": true, "override_stale": true, "note": "try" })
            .to_string(),
    );
    assert_eq!(
        s, 403,
        "the API installed an app of a blocked publisher: {v}"
    );
    assert!(v.to_string().contains("blocked"), "{v}");
    let out = node.cli(&["--node", &node.url, "install", "--override-trust", &app]);
    assert!(
        !out.status.success(),
        "atoll install --override-trust installed an app of a blocked publisher"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("blocked"), "{err}");
    let (_, installed) = node.get("/api/v1/installed");
    assert_eq!(installed, json!([]), "{installed}");
}

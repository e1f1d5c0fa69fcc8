//! Issue 14, updates people control, through the real node, API, CLI and Chromium on real
//! rootless podman: an app (hello-static's image) installed at 1.0.0; 1.1.0 published
//! with release notes and a changed permission (a capability, a memory limit): the card,
//! `GET /installed` and `atoll catalog list` say installed 1.0.0, 1.1.0 available; the
//! update preview and `atoll update` show the notes and the diff (answering "n" changes
//! nothing); the auto-update policy set through the API and the CLI survives a restart;
//! the update dialog in the UI, the update by its "Update all". Then 1.2.0 with a health check that cannot pass:
//! the update rolls back, the node keeps "update to 1.2.0 failed: GET /broken-health: HTTP
//! 404 (rolled back to 1.1.0)", `catalog list` says 1.1.0 installed, a plain update to it
//! is refused (retry is explicit), update-all skips it; going down to 1.0.0 is refused
//! without `downgrade`, and done from the app page's versions table after its data warning.

use std::io::Write as _;

use super::*;

const ID: &str = "tuned";

/// The app at `version`, serving on `port`: 1.1.0 adds release notes, a capability and a
/// bigger memory limit; 1.2.0 (`broken`) checks a page that does not exist.
fn tuned_app(dir: &Path, version: &str, port: u16) {
    build_images();
    let app = dir.join(ID);
    fs::create_dir_all(app.join("images")).unwrap();
    let image = app.join("images/web.oci.tar");
    if !image.exists() {
        fs::copy(repo().join("apps/hello-static/images/web.oci.tar"), &image).unwrap();
    }
    let newer = version != "1.0.0";
    let notes = if newer {
        format!("release_notes: \"{version}: faster pages.\\nNow binds low ports.\"\n")
    } else {
        String::new()
    };
    let (memory, caps) = if newer {
        ("48Mi", "[NET_BIND_SERVICE]")
    } else {
        ("32Mi", "[]")
    };
    let path = if version == "1.2.0" {
        "/broken-health"
    } else {
        "/"
    };
    fs::write(
        app.join("manifest.yml"),
        format!(
            r#"id: {ID}
name: Tuned
version: {version}
description: A static page whose versions change what they ask for.
{notes}categories: [test]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ {{ container: 8080, host: {port}, web: true }} ]
    health:
      http: {{ port: 8080, path: {path} }}
      interval: 1s
      timeout: 1s
      retries: 2
      start_period: 1s
    init: true
    read_only: true
    user: "0"
    capabilities: {caps}
    memory: {memory}
"#
        ),
    )
    .unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// The ref of the app once the node's catalog has `version` as its head, with its
/// manifest fetched (the release notes and the permission diff come from it).
fn head_at(node: &Node, version: &str) -> String {
    for _ in 0..1200 {
        let (_, apps) = node.get("/api/v1/apps");
        if let Some(r) = apps["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["app"] == ID && a["version"] == version)
            .and_then(|a| a["ref"].as_str())
        {
            let (_, detail) = node.get(&format!("/api/v1/apps/{r}"));
            if detail["manifest"]["version"] == version {
                return r.to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{ID} {version} never reached the catalog of {}", node.url);
}

fn act(node: &Node, action: &str, body: Value) -> Value {
    let (s, job) = node.post(
        &format!("/api/v1/actions/{action}"),
        Some(&node.token),
        &body.to_string(),
    );
    assert_eq!(s, 202, "{action}: {job}");
    follow(node, job["events"].as_str().unwrap())
}

fn installed(node: &Node) -> Value {
    let (s, list) = node.get("/api/v1/installed");
    assert_eq!(s, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Tuned")
        .cloned()
        .unwrap_or_else(|| panic!("{ID} not installed: {list}"))
}

fn put(node: &Node, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .put(format!("{}{path}", node.url))
        .bearer_auth(&node.token)
        .json(&body)
        .send()
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().unwrap_or(Value::Null))
}

/// `atoll --node <url> args…` with `stdin` piped in.
fn cli_with_input(node: &Node, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .arg("--home")
        .arg(node.home.path())
        .args(["--node", &node.url])
        .args(args)
        .env_remove("ATOLL_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `atoll catalog list` for the app.
fn list_line(node: &Node) -> String {
    let out = node.cli(&["catalog", "list"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.lines().next().unwrap_or("").contains("INSTALLED"),
        "{text}"
    );
    text.lines()
        .find(|l| l.starts_with("Tuned"))
        .unwrap_or_else(|| panic!("no Tuned in {text}"))
        .to_owned()
}

fn browser(node: &Node, phase: &str, app: &str) {
    let shots = repo().join("test-artifacts");
    let ok = Command::new("node")
        .arg(repo().join("tests/browser/updates.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("UPDATES_APP", app)
        .env("UPDATES_PHASE", phase)
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    assert!(
        ok.success(),
        "updates browser test ({phase}) failed; screenshots in {}",
        shots.display()
    );
}

/// Purge the app on the way out (also after a failure), through the node that runs now,
/// and remove whatever the node left in podman.
struct Cleanup {
    url: String,
    token: String,
    app: String,
    home: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let client = reqwest::blocking::Client::new();
        let sent = client
            .post(format!("{}/api/v1/actions/uninstall", self.url))
            .bearer_auth(&self.token)
            .json(&json!({"app": self.app, "purge": true}))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok());
        if let Some(events) = sent.as_ref().and_then(|j| j["events"].as_str()) {
            job_events(&self.url, events, |_| {});
        }
        let id = atoll_registry::Hash::of(self.home.display().to_string().as_bytes()).to_hex();
        let label = format!("label=io.atoll.node=atoll-{}", &id[..10]);
        let ids = super::crash::podman(&["ps", "-aq", "--filter", &label]);
        for c in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            super::crash::podman(&["rm", "-f", "-t", "0", c]);
        }
        let nets = super::crash::podman(&["network", "ls", "-q", "--filter", &label]);
        for n in String::from_utf8_lossy(&nets.stdout).split_whitespace() {
            super::crash::podman(&["network", "rm", "-f", n]);
        }
    }
}

impl Cleanup {
    fn follow(&mut self, node: &Node) {
        self.url = node.url.clone();
        self.token = node.token.clone();
    }
}

#[test]
fn updates_people_control() {
    let _podman = podman_user();
    let port = free_port();
    let apps = Arc::new(tempfile::tempdir().unwrap());
    let home = Arc::new(tempfile::tempdir().unwrap());
    tuned_app(apps.path(), "1.0.0", port);
    let mut node = Node::start_in(home.clone(), apps.clone(), &[], None, None);
    let app = head_at(&node, "1.0.0");
    let mut cleanup = Cleanup {
        url: node.url.clone(),
        token: node.token.clone(),
        app: app.clone(),
        home: home.path().to_owned(),
    };
    let last = act(&node, "install", json!({ "app": app }));
    assert!(last["error"].is_null(), "install failed: {last}");
    let a = installed(&node);
    assert_eq!(a["installed_version"], "1.0.0");
    assert!(a["available_version"].is_null(), "{a}");
    assert_eq!(a["auto_update"], "notify");
    assert_eq!(a["auto_update_source"], "default");

    // The auto-update policy: bad input named, set through the API, shown and set by the CLI.
    let path = format!("/api/v1/installed/{app}/auto-update");
    let (s, e) = put(&node, &path, json!({"policy": "sometimes"}));
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must be off, notify or auto"),
        "{e}"
    );
    let (s, _) = reqwest::blocking::Client::new()
        .put(format!("{}{path}", node.url))
        .json(&json!({"policy": "auto"}))
        .send()
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 401, "setting a policy needs the admin token");
    let (s, v) = put(&node, &path, json!({"policy": "off"}));
    assert_eq!((s, v["auto_update"].as_str()), (200, Some("off")), "{v}");
    let (ok, out, err) = cli_with_input(&node, &["auto-update", &app, "notify"], "");
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("auto-update of") && out.contains("notify"),
        "{out}"
    );

    // 1.1.0 with notes and changed permissions.
    node.terminate();
    tuned_app(apps.path(), "1.1.0", port);
    node = Node::start_in(home.clone(), apps.clone(), &[], None, None);
    cleanup.follow(&node);
    head_at(&node, "1.1.0");
    let a = installed(&node);
    assert_eq!(
        (
            a["installed_version"].as_str(),
            a["available_version"].as_str(),
            a["update_available"].as_str(),
            a["auto_update"].as_str(),
            a["auto_update_source"].as_str()
        ),
        (
            Some("1.0.0"),
            Some("1.1.0"),
            Some("1.1.0"),
            Some("notify"),
            Some("chosen")
        ),
        "the policy set before the restart is kept: {a}"
    );
    let (_, detail) = node.get(&format!("/api/v1/apps/{app}"));
    assert_eq!(
        (
            detail["version"].as_str(),
            detail["installed_version"].as_str()
        ),
        (Some("1.1.0"), Some("1.0.0")),
        "{detail}"
    );
    let line = list_line(&node);
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cols[1..3], ["1.1.0", "1.0.0"], "LATEST, INSTALLED: {line}");

    let (s, p) = node.get(&format!("/api/v1/installed/{app}/update-preview"));
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["direction"], "up");
    assert_eq!(
        p["release_notes"],
        "1.1.0: faster pages.\nNow binds low ports."
    );
    let diff = p["permissions"].as_array().unwrap();
    assert!(
        diff.contains(
            &json!({"change": "added", "what": "capability", "value": "NET_BIND_SERVICE (web)"})
        ),
        "{p}"
    );
    assert!(
        diff.iter()
            .any(|c| c["change"] == "changed" && c["what"] == "memory" && c["container"] == "web"),
        "{p}"
    );
    let (s, e) = node.get(&format!(
        "/api/v1/installed/{app}/update-preview?version=9.9.9"
    ));
    assert_eq!(s, 404, "{e}");

    // The CLI shows the notes and the diff and asks; "n" changes nothing.
    let (ok, out, err) = cli_with_input(&node, &["update", &app], "n\n");
    assert!(ok, "{out}{err}");
    for want in [
        "1.0.0 → 1.1.0",
        "Release notes:",
        "Now binds low ports.",
        "+ capability NET_BIND_SERVICE (web)",
        "~ web memory:",
        "Update to 1.1.0? [y/N]",
        "not updated",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    assert_eq!(installed(&node)["installed_version"], "1.0.0");
    let (ok, out, _) = cli_with_input(&node, &["update", &app], "");
    assert!(!ok, "no answer must not update: {out}");

    // The update dialog in the UI, then the update by its "Update all" button.
    browser(&node, "update", &app);
    let a = installed(&node);
    assert_eq!(a["installed_version"], "1.1.0", "{a}");
    assert!(a["update_available"].is_null(), "{a}");

    // 1.2.0 never becomes healthy: rolled back, and remembered with its reason.
    node.terminate();
    tuned_app(apps.path(), "1.2.0", port);
    node = Node::start_in(home.clone(), apps.clone(), &[], None, None);
    cleanup.follow(&node);
    head_at(&node, "1.2.0");
    let last = act(&node, "update", json!({ "app": app }));
    let err = last["error"].as_str().unwrap_or_default();
    assert!(err.contains("rolled back to 1.1.0"), "{last}");
    let a = installed(&node);
    let f = &a["failed_update"];
    assert_eq!(
        (
            a["installed_version"].as_str(),
            a["available_version"].as_str(),
            f["version"].as_str(),
            f["restored"].as_str()
        ),
        (Some("1.1.0"), Some("1.2.0"), Some("1.2.0"), Some("1.1.0")),
        "{a}"
    );
    let reason = f["reason"].as_str().unwrap();
    assert!(
        reason.contains("/broken-health") && reason.contains("404"),
        "{reason}"
    );
    assert_eq!(
        f["message"].as_str().unwrap(),
        format!("update to 1.2.0 failed: {reason} (rolled back to 1.1.0)")
    );
    assert!(
        a["update_available"].is_null(),
        "a failed version is not offered as a plain update: {a}"
    );
    let cols: Vec<String> = list_line(&node)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(&cols[1..3], ["1.2.0", "1.1.0"], "{cols:?}");
    let (s, e) = node.post(
        "/api/v1/actions/update",
        Some(&node.token),
        &json!({ "app": app }).to_string(),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("update-failed-before")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry: true"),
        "{e}"
    );
    let (ok, out, err) = cli_with_input(&node, &["update", "--all", "--yes"], "");
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("update to 1.2.0 failed") && out.contains("every installed app is up to date"),
        "update --all skips the failed version: {out}"
    );
    let (ok, out, _) = cli_with_input(&node, &["auto-update", &app], "");
    assert!(
        ok && out.contains("installed 1.1.0, 1.2.0 available"),
        "{out}"
    );
    assert!(out.contains("update to 1.2.0 failed"), "{out}");

    // Going down: refused without `downgrade`, with the data warning; an unknown version
    // is named.
    let (s, e) = node.post(
        "/api/v1/actions/update",
        Some(&node.token),
        &json!({ "app": app, "version": "1.0.0" }).to_string(),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("downgrade")),
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("data"),
        "{e}"
    );
    let (s, e) = node.post(
        "/api/v1/actions/update",
        Some(&node.token),
        &json!({ "app": app, "version": "0.9.0", "downgrade": true }).to_string(),
    );
    assert_eq!(s, 404, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("0.9.0"),
        "{e}"
    );

    // The failure and the rollback in the UI: the Installed page says it, the card shows
    // both versions, the app page's versions table rolls back to 1.0.0 after its warning.
    browser(&node, "rollback", &app);
    let a = installed(&node);
    assert_eq!(a["installed_version"], "1.0.0", "{a}");
    let r = reqwest::blocking::get(format!("http://127.0.0.1:{port}/")).unwrap();
    assert_eq!(r.status().as_u16(), 200, "1.0.0 serves again");
}

/// `atoll node --demo --demo-versions`: hello-static's other versions
/// (`apps/hello-static/versions/`) are published after it, so the catalog holds 1.0.0,
/// 1.1.0 (with release notes) and the broken 1.2.0 (the head) for the update journey.
#[test]
fn demo_versions_publish_every_sample_version() {
    let _podman = podman_user();
    build_images();
    let apps = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let src = repo().join("apps/hello-static");
    let dst = apps.path().join("hello-static");
    for sub in ["", "images", "versions"] {
        fs::create_dir_all(dst.join(sub)).unwrap();
        for e in fs::read_dir(src.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                fs::copy(&p, dst.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let config = home.path().join("atoll.toml");
    fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n[relays]\nembedded_port = 0\nexternal = []\n[iroh]\nbind = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let tag = format!("atoll-test-{}-versions", std::process::id());
    let mut child = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args([
            "--home",
            home.path().to_str().unwrap(),
            "node",
            "--demo",
            "--demo-versions",
        ])
        .args(["--config", config.to_str().unwrap()])
        .args(["--apps", apps.path().to_str().unwrap()])
        .env("ATOLL_PODMAN_TAG", &tag)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[node] {line}");
            if let Some(rest) = line.split("marketplace on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(120))
        .map(|u| u.trim_end_matches('/').to_owned());
    let check = || {
        let url = url.as_ref().expect("the node did not print its address");
        let apps: Value = reqwest::blocking::get(format!("{url}/api/v1/apps"))
            .unwrap()
            .json()
            .unwrap();
        let hs = apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app"] == "hello-static")
            .cloned()
            .unwrap_or_else(|| panic!("no hello-static in {apps}"));
        assert_eq!(hs["version"], "1.2.0", "{hs}");
        let detail: Value =
            reqwest::blocking::get(format!("{url}/api/v1/apps/{}", hs["ref"].as_str().unwrap()))
                .unwrap()
                .json()
                .unwrap();
        let versions: Vec<(String, String)> = detail["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_str().unwrap().to_owned(),
                    v["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            versions,
            [
                ("1.2.0", "head"),
                ("1.1.0", "superseded"),
                ("1.0.0", "superseded")
            ]
            .map(|(v, s)| (v.to_owned(), s.to_owned())),
            "{detail}"
        );
        assert!(
            detail["manifest"]["release_notes"]
                .as_str()
                .unwrap()
                .contains("/broken-health"),
            "{detail}"
        );
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    kill_tagged(&tag);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

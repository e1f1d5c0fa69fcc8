//! Issue 13 step 5, the data-survives test, through the real node, API and CLI on real
//! rootless podman: data stored through the app's own protocol (the notebook's visit log:
//! each HTTP visit appends a line to its volume) survives an update to a version that
//! rewrites it and fails its health check (the rollback restores the pre-update backup),
//! and a disaster: a backup exported with the CLI, the node wiped (stopped, its data dir
//! deleted, the app's containers removed), a fresh node on a new data dir (holding only
//! the publisher key, kept offline as docs/deploy.md says), the file imported, restored
//! (which installs the backed-up version from the catalog before its first start), and
//! the data read again. Bad input on the way: a truncated and a tampered export, a
//! restore onto the running app.

use super::crash::{podman, podman_of};
use super::*;

const ID: &str = "keeper";
const PORT: u16 = 18097;

/// The notebook as app `keeper` at `version`; `broken`: its command first overwrites the
/// visit log (a bad migration) and its health check asks for a page that does not exist.
fn keeper_app(dir: &Path, version: &str, broken: bool) {
    build_images();
    let app = dir.join(ID);
    fs::create_dir_all(app.join("images")).unwrap();
    let image = app.join("images/web.oci.tar");
    if !image.exists() {
        fs::copy(repo().join("apps/notebook/images/web.oci.tar"), &image).unwrap();
    }
    let (command, health) = if broken {
        (
            r#"["sh", "-c", "echo migrated > /data/notes.txt; exec httpd -f -p 8080 -h /www"]"#,
            "/missing",
        )
    } else {
        (r#"["httpd", "-f", "-p", "8080", "-h", "/www"]"#, "/health.txt")
    };
    fs::write(
        app.join("manifest.yml"),
        format!(
            r#"id: {ID}
name: Keeper
version: {version}
description: The notebook, kept safe by backups.
categories: [test]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: {command}
    secrets: [ {{ name: notebook-key, env: NOTEBOOK_KEY, length: 32 }} ]
    ports: [ {{ container: 8080, host: {PORT}, web: true }} ]
    volumes: [ {{ name: data, path: /data }} ]
    health:
      http: {{ port: 8080, path: {health} }}
      interval: 2s
      timeout: 1s
      retries: 2
      start_period: 1s
    stop_grace: 2s
    init: true
    user: "1000:1000"
"#
        ),
    )
    .unwrap();
}

/// One visit: the count of visits the log holds, and the key line.
fn visit() -> (u32, String) {
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{PORT}/cgi-bin/index.cgi"))
        .unwrap()
        .text()
        .unwrap();
    let field = |open: &str| {
        let start = body.find(open).unwrap_or_else(|| panic!("{open} in {body}")) + open.len();
        body[start..].split('<').next().unwrap().to_owned()
    };
    (
        field("<span id=\"count\">").parse().unwrap(),
        field("<p id=\"key\">"),
    )
}

/// The ref of app `keeper` once the node's catalog has it at `version`.
fn keeper_ref(node: &Node, version: &str) -> String {
    for _ in 0..1200 {
        let (_, apps) = node.get("/api/v1/apps");
        if let Some(r) = apps["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["app"] == ID && a["version"] == version && a["description"] != "")
            .and_then(|a| a["ref"].as_str())
        {
            return r.to_owned();
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

fn cli_ok(node: &Node, args: &[&str]) -> String {
    let mut all = vec!["--node", node.url.as_str()];
    all.extend_from_slice(args);
    let out = node.cli(&all);
    assert!(
        out.status.success(),
        "atoll {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn backups(node: &Node) -> Vec<Value> {
    let (s, list) = node.get("/api/v1/backups");
    assert_eq!(s, 200, "{list}");
    list["items"].as_array().cloned().unwrap()
}

/// Remove what a wiped node left in podman (its containers keep running after a stop).
fn remove_containers_of(home: &Path) {
    let id = atoll_registry::Hash::of(home.display().to_string().as_bytes()).to_hex();
    let label = format!("label=io.atoll.node=atoll-{}", &id[..10]);
    let ids = podman(&["ps", "-aq", "--filter", &label]);
    for c in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
        podman(&["rm", "-f", "-t", "0", c]);
    }
    let nets = podman(&["network", "ls", "-q", "--filter", &label]);
    for n in String::from_utf8_lossy(&nets.stdout).split_whitespace() {
        podman(&["network", "rm", "-f", n]);
    }
}

/// After a failure too: no container or network of either node stays in podman.
struct Leftovers(Vec<PathBuf>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for home in &self.0 {
            remove_containers_of(home);
        }
    }
}

#[test]
fn app_data_survives_a_failed_update_and_a_wiped_node() {
    let _podman = podman_user();
    let apps = Arc::new(tempfile::tempdir().unwrap());
    keeper_app(apps.path(), "1.0.0", false);
    let home = Arc::new(tempfile::tempdir().unwrap());
    let fresh = Arc::new(tempfile::tempdir().unwrap());
    let _cleanup = Leftovers(vec![home.path().to_owned(), fresh.path().to_owned()]);
    let mut node = Node::start_in(home.clone(), apps.clone(), &[], None, None);
    let app = keeper_ref(&node, "1.0.0");
    let last = act(&node, "install", json!({ "app": app }));
    assert!(last["error"].is_null(), "install failed: {last}");
    for n in 1..=3 {
        assert_eq!(visit().0, n);
    }
    let key = visit().1;
    assert!(key.starts_with("key set: 32 characters"), "{key}");

    // An update to a version that rewrites the log and never becomes healthy: rolled back,
    // containers and data.
    node.terminate();
    drop(node);
    keeper_app(apps.path(), "1.1.0", true);
    let mut node = Node::start_in(home.clone(), apps.clone(), &[], None, None);
    keeper_ref(&node, "1.1.0");
    let last = act(&node, "update", json!({ "app": app }));
    let err = last["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("rolled back to 1.0.0 with the data from before the update"),
        "{last}"
    );
    assert_eq!(visit(), (5, key.clone()), "the four visits before the update are back");
    let pre: Vec<Value> = backups(&node)
        .into_iter()
        .filter(|b| b["reason"] == "pre-update")
        .collect();
    assert_eq!(pre.len(), 1, "{pre:?}");

    // Restore onto the running app: refused, nothing changed.
    let id = pre[0]["id"].as_str().unwrap();
    let (s, x) = node.post(&format!("/api/v1/backups/{id}/restore"), Some(&node.token), "{}");
    assert_eq!(s, 409, "{x}");
    assert!(
        x["error"]["message"].as_str().unwrap().contains("stop it first"),
        "{x}"
    );
    assert_eq!(visit().0, 6);

    // A backup with the CLI, timed; exported to one file.
    let t = Instant::now();
    let out = cli_ok(&node, &["backup", "create", &app]);
    let backup_time = t.elapsed();
    let manual = backups(&node)
        .into_iter()
        .find(|b| b["reason"] == "manual")
        .unwrap_or_else(|| panic!("no manual backup listed: {out}"));
    let id = manual["id"].as_str().unwrap().to_owned();
    assert_eq!(manual["files"], 1, "{manual}");
    let export = tempfile::tempdir().unwrap();
    let file = export.path().join("keeper.tar");
    cli_ok(&node, &["backup", "export", &id, "--out", file.to_str().unwrap()]);
    let bytes = fs::read(&file).unwrap();
    eprintln!(
        "measured: backup of {} bytes of app data ({} files) in {backup_time:?}; export file {} bytes",
        manual["bytes"],
        manual["files"],
        bytes.len()
    );

    // Wipe the node: stop it, remove its containers, delete its data dir, keeping only
    // the publisher key (an operator keeps it offline).
    let keys = export.path().join("keys");
    let status = Command::new("cp")
        .arg("-a")
        .arg(home.path().join("keys"))
        .arg(&keys)
        .status()
        .unwrap();
    assert!(status.success());
    node.terminate();
    let old_tag = node.tag.clone();
    drop(node);
    kill_tagged(&old_tag);
    remove_containers_of(home.path());
    for e in fs::read_dir(home.path()).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
    assert!(
        reqwest::blocking::get(format!("http://127.0.0.1:{PORT}/")).is_err(),
        "the app still answers after the wipe"
    );

    // A fresh node on a new data dir; the catalog offers the backed-up version again.
    keeper_app(apps.path(), "1.0.0", false);
    let status = Command::new("cp")
        .arg("-a")
        .arg(&keys)
        .arg(fresh.path().join("keys"))
        .status()
        .unwrap();
    assert!(status.success());
    let node = Node::start_in(fresh.clone(), apps.clone(), &[], None, None);
    assert_eq!(keeper_ref(&node, "1.0.0"), app, "same publisher key, same ref");

    // Bad files are refused, naming what is wrong; nothing is stored.
    let t = Some(node.token.as_str());
    let cut = &bytes[..bytes.len() - 1500];
    let (s, x) = post_bytes(&node, "/api/v1/backups/import", t, cut.to_vec());
    assert_eq!(s, 400, "{x}");
    assert!(x["error"]["message"].as_str().unwrap().contains("truncated"), "{x}");
    let mut tampered = bytes.clone();
    let at = tampered.windows(8).position(|w| w == b"visit at").unwrap();
    tampered[at] = b'V';
    let (s, x) = post_bytes(&node, "/api/v1/backups/import", t, tampered);
    assert_eq!(s, 400, "{x}");
    assert!(x["error"]["message"].as_str().unwrap().contains("altered"), "{x}");
    assert!(backups(&node).is_empty());
    let (s, x) = post_bytes(&node, "/api/v1/backups/import", None, bytes.clone());
    assert_eq!(s, 401, "import needs the admin token: {x}");

    // Import and restore with the CLI: the app is installed on its data, then started.
    cli_ok(&node, &["backup", "import", file.to_str().unwrap()]);
    let listed = backups(&node);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["installed"], false, "{listed:?}");
    let preview = cli_ok(&node, &["backup", "show", &id]);
    assert!(preview.contains("\"replaces\""), "{preview}");
    let t = Instant::now();
    let out = cli_ok(&node, &["backup", "restore", &id, "--yes"]);
    let restore_time = t.elapsed();
    assert!(out.contains("installed on it and running"), "{out}");
    eprintln!("measured: restore (data, then install from the catalog, then start) in {restore_time:?}");
    assert_eq!(
        visit(),
        (7, key),
        "the six visits of the wiped node are back, and so is its secret"
    );

    // Clean up: nothing of the test is left.
    let last = act(&node, "uninstall", json!({ "app": app, "purge": true }));
    assert!(last["error"].is_null(), "uninstall failed: {last}");
    let mut node = node;
    let status = node.terminate();
    assert!(status.success(), "node exited with {status}");
    let held = podman_of(fresh.path());
    assert!(held.containers.is_empty() && held.networks.is_empty());
    node.assert_no_podman_left();
}

fn post_bytes(node: &Node, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}{path}", node.url))
        .header("content-type", "application/x-tar")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

//! Issue 13 step 5, the data-survives test, through the real node, API and CLI on real
//! rootless podman, with a real app's own protocol: a calendar event stored in radicale
//! over CalDAV (HTTP basic auth with the generated admin password) survives an update to
//! a version that deletes the collections and fails its health check (the rollback
//! restores the pre-update backup), and a disaster: a backup exported with the CLI, the
//! node wiped (stopped, its data dir deleted, the app's containers removed), a fresh node
//! on a new data dir (holding only the publisher key, kept offline as docs/deploy.md
//! says), the file imported, restored (which installs the backed-up version from the
//! catalog before its first start) and the event read again with the same password. Bad
//! input on the way: a truncated and a tampered export, a restore onto the running app.
//! Then the installed app's backups panel in Chromium (tests/browser/backups.mjs).

use super::crash::{podman, podman_of};
use super::*;

const ID: &str = "radicale";
const PORT: u16 = 18083;
const EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//atoll//backup test//EN\r\n\
BEGIN:VEVENT\r\nUID:backup-drill@atoll\r\nDTSTAMP:20261202T080000Z\r\n\
DTSTART:20261203T090000Z\r\nDTEND:20261203T100000Z\r\nSUMMARY:Backup drill\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";

/// apps/radicale at `version`; `broken`: its command first deletes the collections (a bad
/// migration) and its health check asks for a page that does not exist.
fn radicale_app(dir: &Path, version: &str, broken: bool) {
    build_images();
    let src = repo().join("apps").join(ID);
    let app = dir.join(ID);
    fs::create_dir_all(app.join("images")).unwrap();
    let image = app.join("images/server.oci.tar");
    if !image.exists() {
        let from = src.join("images/server.oci.tar");
        fs::hard_link(&from, &image)
            .or_else(|_| fs::copy(&from, &image).map(|_| ()))
            .unwrap();
        fs::copy(src.join("icon.svg"), app.join("icon.svg")).unwrap();
    }
    let mut m = fs::read_to_string(src.join("manifest.yml")).unwrap();
    let from = m
        .lines()
        .find(|l| l.starts_with("version: "))
        .unwrap()
        .to_owned();
    m = m.replacen(&from, &format!("version: {version}"), 1);
    if broken {
        for (a, b) in [
            (
                "      archive: images/server.oci.tar\n",
                "      archive: images/server.oci.tar\n    command: [\"/bin/sh\", \"-c\", \"rm -rf /var/lib/radicale/collections; exec /usr/bin/radicale --config /etc/radicale/config\"]\n",
            ),
            ("path: /.web/ }", "path: /missing }"),
            ("interval: 10s", "interval: 2s"),
            ("timeout: 3s", "timeout: 1s"),
            ("start_period: 20s", "start_period: 2s"),
        ] {
            assert!(m.contains(a), "apps/radicale/manifest.yml no longer has {a:?}");
            m = m.replacen(a, b, 1);
        }
    }
    fs::write(app.join("manifest.yml"), m).unwrap();
}

/// The generated admin password, from the app's secrets dir under `home`.
fn password(home: &Path) -> String {
    let apps = home.join("apps");
    let dir = fs::read_dir(&apps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("radicale-")
        })
        .unwrap_or_else(|| panic!("no radicale data dir in {}", apps.display()));
    fs::read_to_string(dir.join("secrets/admin-password"))
        .unwrap()
        .trim()
        .to_owned()
}

fn dav(method: &str, path: &str, pass: &str, body: Option<&str>) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::blocking::Client::new()
        .request(method, format!("http://127.0.0.1:{PORT}{path}"))
        .basic_auth("admin", Some(pass));
    if let Some(b) = body {
        req = req
            .header("content-type", "text/calendar; charset=utf-8")
            .body(b.to_owned());
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}

/// Store the event over CalDAV: a calendar, then the event in it.
fn store_event(pass: &str) {
    let (s, b) = dav("MKCALENDAR", "/admin/calendar/", pass, None);
    assert_eq!(s, 201, "MKCALENDAR: {b}");
    let (s, b) = dav("PUT", "/admin/calendar/drill.ics", pass, Some(EVENT));
    assert_eq!(s, 201, "PUT: {b}");
}

/// The event as radicale serves it now (status and body).
fn read_event(pass: &str) -> (u16, String) {
    dav("GET", "/admin/calendar/drill.ics", pass, None)
}

fn assert_event(pass: &str, what: &str) {
    let (s, b) = read_event(pass);
    assert_eq!(s, 200, "{what}: {b}");
    assert!(
        b.contains("SUMMARY:Backup drill") && b.contains("UID:backup-drill@atoll"),
        "{what}: {b}"
    );
}

/// The ref of the app once the node's catalog has it at `version`.
fn app_ref(node: &Node, version: &str) -> String {
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
    radicale_app(apps.path(), "1.0.0", false);
    let home = Arc::new(tempfile::tempdir().unwrap());
    let fresh = Arc::new(tempfile::tempdir().unwrap());
    let _cleanup = Leftovers(vec![home.path().to_owned(), fresh.path().to_owned()]);
    let mut node = Node::start_in(home.clone(), apps.clone(), &[], None, None);
    let app = app_ref(&node, "1.0.0");
    let last = act(&node, "install", json!({ "app": app }));
    assert!(last["error"].is_null(), "install failed: {last}");
    let pass = password(home.path());
    let (s, _) = dav("GET", "/admin/", "wrong", None);
    assert_eq!(s, 401, "radicale checks the password");
    store_event(&pass);
    assert_event(&pass, "after the PUT");

    // An update to a version that deletes the collections and never becomes healthy:
    // rolled back, containers and data.
    node.terminate();
    drop(node);
    radicale_app(apps.path(), "1.1.0", true);
    let mut node = Node::start_in(home.clone(), apps.clone(), &[], None, None);
    app_ref(&node, "1.1.0");
    let last = act(&node, "update", json!({ "app": app }));
    let err = last["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("rolled back to 1.0.0 with the data from before the update"),
        "{last}"
    );
    assert_event(&pass, "after the rollback");
    let pre: Vec<Value> = backups(&node)
        .into_iter()
        .filter(|b| b["reason"] == "pre-update")
        .collect();
    assert_eq!(pre.len(), 1, "{pre:?}");

    // Restore onto the running app: refused, nothing changed.
    let id = pre[0]["id"].as_str().unwrap();
    let (s, x) = node.post(
        &format!("/api/v1/backups/{id}/restore"),
        Some(&node.token),
        "{}",
    );
    assert_eq!(s, 409, "{x}");
    assert!(
        x["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stop it first"),
        "{x}"
    );
    assert_event(&pass, "after the refused restore");

    // A backup with the CLI, timed; exported to one file.
    let t = Instant::now();
    let out = cli_ok(&node, &["backup", "create", &app]);
    let backup_time = t.elapsed();
    let manual = backups(&node)
        .into_iter()
        .find(|b| b["reason"] == "manual")
        .unwrap_or_else(|| panic!("no manual backup listed: {out}"));
    let id = manual["id"].as_str().unwrap().to_owned();
    assert!(
        manual["files"].as_u64().unwrap() >= 2,
        "the calendar's files: {manual}"
    );
    let export = tempfile::tempdir().unwrap();
    let file = export.path().join("radicale.tar");
    cli_ok(
        &node,
        &["backup", "export", &id, "--out", file.to_str().unwrap()],
    );
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
        reqwest::blocking::get(format!("http://127.0.0.1:{PORT}/.web/")).is_err(),
        "the app still answers after the wipe"
    );

    // A fresh node on a new data dir; the catalog offers the backed-up version again.
    radicale_app(apps.path(), "1.0.0", false);
    let status = Command::new("cp")
        .arg("-a")
        .arg(&keys)
        .arg(fresh.path().join("keys"))
        .status()
        .unwrap();
    assert!(status.success());
    let node = Node::start_in(fresh.clone(), apps.clone(), &[], None, None);
    assert_eq!(app_ref(&node, "1.0.0"), app, "same publisher key, same ref");

    // Bad files are refused, naming what is wrong; nothing is stored.
    let t = Some(node.token.as_str());
    let cut = &bytes[..bytes.len() - 1500];
    let (s, x) = post_bytes(&node, "/api/v1/backups/import", t, cut.to_vec());
    assert_eq!(s, 400, "{x}");
    assert!(
        x["error"]["message"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{x}"
    );
    let mut tampered = bytes.clone();
    let at = tampered
        .windows(12)
        .position(|w| w == b"Backup drill")
        .unwrap();
    tampered[at] = b'V';
    let (s, x) = post_bytes(&node, "/api/v1/backups/import", t, tampered);
    assert_eq!(s, 400, "{x}");
    assert!(
        x["error"]["message"].as_str().unwrap().contains("altered"),
        "{x}"
    );
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
    // Its publisher blocked: the restore would install from the catalog, so it is refused
    // as every install is; unblocking gives the pin back and the restore goes ahead.
    let did = json!({ "did": app.rsplit_once('/').unwrap().0 }).to_string();
    let tk = Some(node.token.as_str());
    let (s, v) = node.post("/api/v1/trust/block", tk, &did);
    assert_eq!(s, 200, "{v}");
    let (s, v) = node.post(&format!("/api/v1/backups/{id}/restore"), tk, "{}");
    assert_eq!(
        s, 403,
        "a restore installing a blocked publisher's app: {v}"
    );
    assert_eq!(v["error"]["reasons"][0]["reason"], "blocked", "{v}");
    let (s, v) = node.post("/api/v1/trust/unblock", tk, &did);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decision"], "pin", "unblock gives the demo pin back: {v}");
    let t = Instant::now();
    let out = cli_ok(&node, &["backup", "restore", &id, "--yes"]);
    let restore_time = t.elapsed();
    assert!(out.contains("installed on it and running"), "{out}");
    eprintln!(
        "measured: restore (data, then install from the catalog, then start) in {restore_time:?}"
    );
    assert_eq!(
        password(fresh.path()),
        pass,
        "the generated password is back"
    );
    assert_event(&pass, "on the fresh node after the restore");

    // The UI: the installed app's backups panel in Chromium.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/backups.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("BACKUP_APP", &app)
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    assert!(
        browser.success(),
        "backups browser test failed; screenshots in {}",
        shots.display()
    );
    assert_event(&pass, "after the browser test");

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

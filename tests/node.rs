//! The node as operators and browsers meet it: `atoll node --demo` started as a real
//! process on a free port, syncing a third-party publisher (a second demo node whose
//! relay it follows), its HTTP API exercised (reads, errors in one JSON shape, limits,
//! the admin token, the Host check, slow and flooding clients, icon serving), the CLI
//! against its home, the marketplace driven in headless Chromium, and a graceful SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "node/admin.rs"]
mod admin;
#[path = "node/backup.rs"]
mod backup;
#[path = "node/block.rs"]
mod block;
#[path = "node/crash.rs"]
mod crash;
#[path = "node/deps.rs"]
mod deps;
#[path = "node/guard.rs"]
mod guard;
#[path = "node/hosts.rs"]
mod hosts;
#[path = "node/install.rs"]
mod install;
#[path = "node/journey.rs"]
mod journey;
#[path = "node/multihost.rs"]
mod multihost;
#[path = "node/netns.rs"]
mod netns;
#[path = "node/operator.rs"]
mod operator;
#[path = "node/publish.rs"]
mod publish;
#[path = "node/settings.rs"]
mod settings;
#[path = "node/trust.rs"]
mod trust;
#[path = "node/updates.rs"]
mod updates;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Connections the node serves at once (`MAX_CONNECTIONS` in src/api/server.rs).
const MAX_CONNECTIONS: usize = 256;

fn build_images() {
    let status = Command::new("bash")
        .arg(repo().join("scripts/build-images.sh"))
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(status.success(), "scripts/build-images.sh failed");
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0x50,
    0x0f, 0x00, 0x04, 0x85, 0x01, 0x80, 0x84, 0xa9, 0x8c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The third party's one app: its own publisher (another node's demo key, never pinned
/// here), a PNG icon, and hello-static's image archive padded with 4 MiB of zero blocks
/// after its end-of-archive marker (tar readers stop there): the same image, but a blob
/// the node under test does not hold, so installing it fetches it over iroh.
fn third_party_app(dir: &Path) {
    build_images();
    let app = dir.join("elsewhere");
    fs::create_dir_all(app.join("images")).unwrap();
    let mut archive = fs::read(repo().join("apps/hello-static/images/web.oci.tar")).unwrap();
    archive.resize(archive.len() + 4 * 1024 * 1024, 0);
    fs::write(app.join("images/web.oci.tar"), archive).unwrap();
    fs::write(app.join("icon.png"), PNG).unwrap();
    fs::write(
        app.join("manifest.yml"),
        r#"id: elsewhere
name: Elsewhere Notes
version: 1.0.0
description: Notes from a publisher this node never pinned.
icon: icon.png
categories: [productivity]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ { container: 8080, host: 18091, web: true } ]
"#,
    )
    .unwrap();
}

/// The sample apps plus one whose name and description are hostile HTML.
fn apps_with_hostile(dir: &Path) {
    build_images();
    for app in ["hello-static", "notebook", "two-tier"] {
        let src = repo().join("apps").join(app);
        let dst = dir.join(app);
        fs::create_dir_all(dst.join("images")).unwrap();
        fs::copy(src.join("manifest.yml"), dst.join("manifest.yml")).unwrap();
        fs::copy(src.join("icon.svg"), dst.join("icon.svg")).unwrap();
        if src.join("screenshot.png").exists() {
            fs::copy(src.join("screenshot.png"), dst.join("screenshot.png")).unwrap();
        }
        for img in fs::read_dir(src.join("images")).unwrap() {
            let img = img.unwrap().path();
            fs::copy(&img, dst.join("images").join(img.file_name().unwrap())).unwrap();
        }
    }
    let evil = dir.join("evil");
    fs::create_dir_all(evil.join("images")).unwrap();
    fs::copy(
        repo().join("apps/hello-static/images/web.oci.tar"),
        evil.join("images/web.oci.tar"),
    )
    .unwrap();
    fs::write(
        evil.join("icon.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg' onload='window.__pwned=1'><script>window.__pwned=1</script></svg>",
    )
    .unwrap();
    fs::write(
        evil.join("manifest.yml"),
        r#"id: evil
name: "<img src=x onerror=window.__pwned=1>"
version: 0.0.1
description: "<script>window.__pwned=1</script><b>bold?</b> & \"quotes\""
icon: icon.svg
categories: [demo]
links: { homepage: "https://example.org/\"><script>window.__pwned=1</script>" }
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ { container: 8080, host: 18090, web: true } ]
"#,
    )
    .unwrap();
}

/// The nodes of this binary share the rootless user's podman API service (the first node
/// up starts it, the others use it), and a SIGKILLed node leaves the one it started
/// behind: so they run one test at a time.
fn podman_user() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

struct Node {
    child: Child,
    /// `ATOLL_PODMAN_TAG` of this node: on every podman process it starts.
    tag: String,
    url: String,
    home: Arc<tempfile::TempDir>,
    _apps: Arc<tempfile::TempDir>,
    token: String,
    /// Failpoints the node reported reaching (`ATOLL_FAILPOINT`).
    failpoints: mpsc::Receiver<String>,
    /// Kill what is left with this node's tag when it is dropped (not after a deliberate
    /// SIGKILL, whose orphaned podman service the next node on the same tag uses).
    reap_tagged: bool,
    /// Every line the node logged (stderr, `ATOLL_LOG=info`), to check what it never logs.
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Node {
    /// A demo node with the apps `fill` writes, following the `external` relays too.
    fn start(fill: fn(&Path), external: &[String]) -> Node {
        let apps = tempfile::tempdir().unwrap();
        fill(apps.path());
        Node::start_in(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(apps),
            external,
            None,
            None,
        )
    }

    /// A demo node on an existing home and apps dir (a restart when they were used
    /// before), with podman tag `tag` (a new one if `None`) and `ATOLL_FAILPOINT`.
    fn start_in(
        home: Arc<tempfile::TempDir>,
        apps: Arc<tempfile::TempDir>,
        external: &[String],
        tag: Option<&str>,
        failpoint: Option<&str>,
    ) -> Node {
        Node::start_configured(home, apps, external, tag, failpoint, "")
    }

    /// [`Node::start_in`] with `extra` appended to its atoll.toml (whole sections).
    fn start_configured(
        home: Arc<tempfile::TempDir>,
        apps: Arc<tempfile::TempDir>,
        external: &[String],
        tag: Option<&str>,
        failpoint: Option<&str>,
        extra: &str,
    ) -> Node {
        // Every port picked by the OS, so tests never collide with a running node.
        let config = home.path().join("atoll.toml");
        fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\n[relays]\nembedded_port = 0\nexternal = {external:?}\n\
                 [iroh]\nbind = \"127.0.0.1:0\"\n{extra}"
            ),
        )
        .unwrap();
        static NODES: AtomicU32 = AtomicU32::new(0);
        let tag = tag.map(str::to_owned).unwrap_or_else(|| {
            format!(
                "atoll-test-{}-{}",
                std::process::id(),
                NODES.fetch_add(1, Ordering::SeqCst)
            )
        });
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_atoll"));
        cmd.args(["--home", home.path().to_str().unwrap(), "node", "--demo"])
            .args(["--config", config.to_str().unwrap()])
            .args(["--apps", apps.path().to_str().unwrap()])
            .env("ATOLL_LOG", "info")
            .env("ATOLL_PODMAN_TAG", &tag)
            .env_remove("ATOLL_FAILPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(f) = failpoint {
            cmd.env("ATOLL_FAILPOINT", f);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let (fp_tx, failpoints) = mpsc::channel();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[node] {line}");
                kept.lock().unwrap().push(line.clone());
                if let Some(rest) = line.split("marketplace on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                if let Some(rest) = line.split("ATOLL_FAILPOINT reached ").nth(1) {
                    let _ = fp_tx.send(rest.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the node did not print its address");
        let token = fs::read_to_string(home.path().join("admin.token")).unwrap();
        Node {
            child,
            tag,
            url: url.trim_end_matches('/').to_owned(),
            home,
            _apps: apps,
            token: token.trim().to_owned(),
            failpoints,
            reap_tagged: true,
            log,
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let r = reqwest::blocking::get(format!("{}{path}", self.url)).unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// `host:port` of the HTTP API.
    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    fn cli(&self, args: &[&str]) -> Output {
        atoll_cli(self.home.path(), args)
    }

    /// SIGTERM, then wait (bounded) until the node exited.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.wait_exit().expect("the node did not stop on SIGTERM")
    }

    fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Wait (bounded) until no process carrying this node's podman tag runs: the podman API
    /// service it started must stop with it, not linger reparented to init.
    fn assert_no_podman_left(&self) {
        let mut left = Vec::new();
        for _ in 0..100 {
            left = tagged_processes(&self.tag);
            if left.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "podman processes of the stopped node {} still run: {left:?}",
            self.tag
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Also after a failure, stop the node with SIGTERM: a SIGKILLed node cannot stop
        // the podman API service it started, which then outlives the test (parent pid 1).
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            if self.wait_exit().is_none() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        // Last resort when the node could not clean up: its tag is unique to this test.
        if self.reap_tagged {
            kill_tagged(&self.tag);
        }
    }
}

/// SIGKILL every process carrying `ATOLL_PODMAN_TAG=tag`.
fn kill_tagged(tag: &str) {
    for (pid, _) in tagged_processes(tag) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
}

/// Live processes (pid, command line) whose environment has `ATOLL_PODMAN_TAG=tag`.
fn tagged_processes(tag: &str) -> Vec<(u32, String)> {
    let marker = format!("ATOLL_PODMAN_TAG={tag}");
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let environ = fs::read(e.path().join("environ")).unwrap_or_default();
        if !environ.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
            continue;
        }
        let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|c| c == 'Z' || c == 'X');
        if !zombie {
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

fn atoll_cli(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atoll"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("ATOLL_LOG")
        .output()
        .unwrap()
}

/// Send raw bytes (a request with `Connection: close`), return the status and JSON body.
fn raw(addr: &str, request: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The node's accepted connections on its HTTP port: sockets in its fd table whose local
/// port is `port` (connections waiting in the listen backlog are not in it).
fn held_connections(pid: u32, port: u16) -> usize {
    let mut inodes = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f[1].rsplit(':').next().unwrap();
            // State 0A is LISTEN: the listening socket itself is not a connection.
            if u16::from_str_radix(local_port, 16).unwrap() == port && f[3] != "0A" {
                inodes.insert(f[9].to_owned());
            }
        }
    }
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .filter(|inode| inodes.contains(inode))
        .count()
}

/// Wait (bounded) until the server closes `s`: EOF or a reset, after at most an error answer.
fn closed_by_server(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => assert!(
                !String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 2"),
                "a half-sent request was answered with success"
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A client that sends its request head one byte a second is cut off by the server.
fn slow_client_is_cut_off(node: &Node) {
    let mut s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let head = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: {}\r\nX-Slow: ",
        node.addr()
    );
    let mut closed = false;
    for i in 0..120 {
        let byte = head.as_bytes().get(i).copied().unwrap_or(b'a');
        if s.write_all(&[byte]).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => assert!(
                !String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 2"),
                "an unfinished request head was answered with success"
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(
        closed,
        "a client sending one header byte per second was kept for 120 s"
    );
}

/// More half-open connections than the cap: the node holds at most the cap, still answers
/// a normal request, and closes every half-open one.
fn flood_beyond_the_cap(node: &Node) {
    let port: u16 = node.addr().rsplit(':').next().unwrap().parse().unwrap();
    let pid = node.child.id();
    let mut flood: Vec<TcpStream> = (0..MAX_CONNECTIONS + 44)
        .map(|_| {
            let mut s = TcpStream::connect(node.addr()).unwrap();
            s.write_all(b"GET /api/v1/status HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let url = format!("{}/api/v1/status", node.url);
    let normal = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
            .get(url)
            .send()
            .map(|r| r.status().as_u16())
    });
    let mut most = 0;
    while !normal.is_finished() {
        let held = held_connections(pid, port);
        assert!(
            held <= MAX_CONNECTIONS,
            "the node holds {held} connections, above its cap {MAX_CONNECTIONS}"
        );
        most = most.max(held);
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered = normal.join().unwrap();
    assert_eq!(
        answered.as_ref().ok(),
        Some(&200),
        "a normal request during the flood: {answered:?}"
    );
    assert_eq!(
        most, MAX_CONNECTIONS,
        "the flood did not fill the node's slots"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let open = flood
        .iter_mut()
        .map(|s| closed_by_server(s, deadline))
        .filter(|closed| !closed)
        .count();
    assert_eq!(
        open, 0,
        "{open} half-open connections were still held after 120 s"
    );
}

/// `/blobs/{hash}` serves only icons, as the type they were published as.
fn blobs_are_icons_only(node: &Node, detail: &Value, third: &Value) {
    let icon = detail["icon_url"].as_str().unwrap();
    let resp = reqwest::blocking::get(format!("{}{icon}", node.url)).unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "image/svg+xml");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    // The third party's PNG icon, fetched from its node while syncing: served as a PNG.
    let png = third["icon_url"].as_str().unwrap();
    let mut got = None;
    for _ in 0..300 {
        let resp = reqwest::blocking::get(format!("{}{png}", node.url)).unwrap();
        if resp.status().as_u16() == 200 {
            got = Some(resp);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let resp = got.expect("the third party's icon was not served within 30 s");
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.bytes().unwrap().as_ref(), PNG);
    // A manifest blob (held, and small: it used to be served as SVG), an image archive
    // and an unknown blob are not icons: 404 in the JSON shape.
    let manifest = detail["manifest_hash"].as_str().unwrap().to_owned();
    let image =
        blake3::hash(&fs::read(repo().join("apps/hello-static/images/web.oci.tar")).unwrap())
            .to_hex()
            .to_string();
    for hash in [manifest, image, "0".repeat(64)] {
        let (s, v) = node.get(&format!("/api/v1/blobs/{hash}"));
        assert_eq!(s, 404, "{hash}: {v}");
        assert_error_shape(&v, "not_found");
    }
    let (s, v) = node.get("/api/v1/blobs/not-a-hash");
    assert_eq!(s, 400, "{v}");
    assert_error_shape(&v, "bad_request");
}

/// Every error answer is the JSON shape, and says which part of the request is wrong.
fn errors_are_json_everywhere(node: &Node, app: &str) {
    let long_query = format!("/api/v1/apps?q={}", "a".repeat(3000));
    let long_search = format!("/api/v1/apps?q={}", "a".repeat(300));
    let big_tail = format!("/api/v1/installed/{app}/logs?tail=100000");
    for (path, starts) in [
        ("/api/v1/apps?per_page=lots", "query string"),
        ("/api/v1/apps?bogus=1", "query string"),
        ("/api/v1/apps?installed=maybe", "query string"),
        (long_query.as_str(), "query string"),
        (long_search.as_str(), "q:"),
        ("/api/v1/apps?page=0", "page"),
        ("/api/v1/apps?per_page=201", "per_page"),
        (big_tail.as_str(), "tail"),
        ("/api/v1/apps/%ff/x", "path"),
        ("/api/v1/trust/%ff%fe/explain", "path"),
    ] {
        let (s, v) = node.get(path);
        assert_eq!(s, 400, "{path}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or("");
        assert!(message.starts_with(starts), "{path}: {v}");
    }
    let t = Some(node.token.as_str());
    for body in [
        "{not json",
        r#"{"did": 5}"#,
        r#"{"did": "x", "extra": 1}"#,
        "",
    ] {
        let (s, v) = node.post("/api/v1/trust/pin", t, body);
        assert_eq!(s, 400, "{body}: {v}");
        assert_error_shape(&v, "bad_request");
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with("body"),
            "{v}"
        );
    }
    let addr = node.addr();
    let auth = format!("Authorization: Bearer {}\r\n", node.token);
    let ask = |method: &str, path: &str, body: &str| {
        raw(
            &addr,
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    // No Content-Type: the body is not taken as JSON.
    let (s, v) = ask("POST", "/api/v1/trust/pin", "{}");
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().starts_with("body"),
        "{v}"
    );
    // Unknown methods and paths, in and outside the API.
    for (method, path, status, code) in [
        ("DELETE", "/api/v1/status", 405, "method_not_allowed"),
        ("POST", "/api/v1/apps", 405, "method_not_allowed"),
        ("PUT", "/ui/core.js", 405, "method_not_allowed"),
        ("GET", "/nothing-here", 404, "not_found"),
    ] {
        let (s, v) = ask(method, path, "");
        assert_eq!(s, status, "{method} {path}: {v}");
        assert_error_shape(&v, code);
        if status == 405 {
            let m = v["error"]["message"].as_str().unwrap();
            assert!(m.contains(method) && m.contains(path), "{v}");
            assert!(m.contains("allowed: GET"), "{v}");
        }
    }
    // A request head over 64 KiB is refused by hyper (431) or the connection dropped;
    // never answered.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let big = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: {addr}\r\nX-Big: {}\r\n\r\n",
        "b".repeat(70 * 1024)
    );
    let _ = s.write_all(big.as_bytes());
    let mut answer = Vec::new();
    if s.read_to_end(&mut answer).is_ok() {
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 431"), "a 70 KiB head: {text}");
    }
}

/// A body above the limit is 413 before it is read; without the token it is not read at all.
fn bodies_are_bounded(node: &Node) {
    let addr = node.addr();
    let head = |auth: &str| {
        format!(
            "POST /api/v1/trust/pin HTTP/1.1\r\nHost: {addr}\r\n{auth}\
             Content-Type: application/json\r\nContent-Length: 52428800\r\nConnection: close\r\n\r\n"
        )
    };
    let (s, v) = raw(
        &addr,
        head(&format!("Authorization: Bearer {}\r\n", node.token)).as_bytes(),
    );
    assert_eq!(s, 413, "{v}");
    assert_error_shape(&v, "payload_too_large");
    let (s, v) = raw(&addr, head("").as_bytes());
    assert_eq!(s, 401, "{v}");
}

/// A trust note over 1024 bytes (or with control characters) is refused and nothing is kept.
fn trust_notes_are_bounded(node: &Node, did: &str) {
    let t = Some(node.token.as_str());
    for note in ["n".repeat(1025), "clear\u{1b}[2Jscreen".to_owned()] {
        for op in ["pin", "block"] {
            let body = json!({ "did": did, "note": note }).to_string();
            let (s, v) = node.post(&format!("/api/v1/trust/{op}"), t, &body);
            assert_eq!(s, 400, "{v}");
            assert_error_shape(&v, "bad_request");
            assert!(
                v["error"]["message"].as_str().unwrap().starts_with("note"),
                "{v}"
            );
        }
    }
    let (_, x) = node.get(&format!("/api/v1/trust/{did}/explain"));
    assert_eq!(
        x["decision"],
        Value::Null,
        "a refused note changed the decision: {x}"
    );
    // A note at the limit is kept.
    let body = json!({ "did": did, "note": "n".repeat(1024) }).to_string();
    let (s, x) = node.post("/api/v1/trust/block", t, &body);
    assert_eq!(s, 200, "{x}");
    let (s, x) = node.post(
        "/api/v1/trust/unblock",
        t,
        &json!({ "did": did }).to_string(),
    );
    assert_eq!(s, 200, "{x}");
    assert_eq!(x["decision"], Value::Null, "{x}");
}

/// Follow a job's server-sent events until its last one.
fn follow(node: &Node, events: &str) -> Value {
    follow_all(node, events).pop().unwrap()
}

/// Every event of a job, its last one (done) included.
fn follow_all(node: &Node, events: &str) -> Vec<Value> {
    let mut all = Vec::new();
    job_events(&node.url, events, |ev| all.push(ev));
    all
}

/// Read the server-sent events of a job at `base` + `events`, handing each to `on`, until
/// the one that says `done` (a stream that ends before it fails the test).
fn job_events(base: &str, events: &str, mut on: impl FnMut(Value)) {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
        .get(format!("{base}{events}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    for line in BufReader::new(resp).lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data:") {
            let ev: Value = serde_json::from_str(data.trim()).unwrap();
            let done = ev["done"] == true;
            on(ev);
            if done {
                return;
            }
        }
    }
    panic!("the event stream of {base}{events} ended before the job did");
}

/// Install and uninstall an app through the API, following each job's event stream: the
/// percent never goes back, and the fetch stage says the (published here) image is held.
fn job_events_stream_to_the_end(node: &Node, install: &str) {
    let t = Some(node.token.as_str());
    let (s, job) = node.post("/api/v1/actions/install", t, install);
    assert_eq!(s, 202, "{job}");
    let events = follow_all(node, job["events"].as_str().unwrap());
    let last = events.last().unwrap();
    assert!(last["error"].is_null(), "install failed: {last}");
    let percents: Vec<u64> = events
        .iter()
        .map(|e| e["percent"].as_u64().unwrap())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    let image = events
        .iter()
        .find(|e| e["stage"] == "fetch" && e["fetch"]["kind"] == "image")
        .unwrap_or_else(|| panic!("no fetch event for the image: {events:?}"));
    assert_eq!(image["fetch"]["state"], "held", "{image}");
    assert_eq!(
        image["fetch"]["fetched"], image["fetch"]["total"],
        "{image}"
    );
    let (_, installed) = node.get("/api/v1/installed");
    assert_eq!(installed[0]["state"], "running", "{installed}");
    let mut uninstall: Value = serde_json::from_str(install).unwrap();
    uninstall["purge"] = json!(true);
    let (s, job) = node.post("/api/v1/actions/uninstall", t, &uninstall.to_string());
    assert_eq!(s, 202, "{job}");
    let last = follow(node, job["events"].as_str().unwrap());
    assert!(last["error"].is_null(), "uninstall failed: {last}");
}

/// Commands that read a home refuse one that does not exist, name it, and create nothing.
fn cli_refuses_a_missing_home(node: &Node, app: &str, did: &str) {
    let missing = node.home.path().join("no-such-home");
    let commands: [&[&str]; 8] = [
        &["catalog", "list"],
        &["catalog", "search", "hello"],
        &["catalog", "show", app],
        &["catalog", "check"],
        &["trust", "list"],
        &["trust", "explain", did],
        &["trust", "pin", did],
        &["sync", "status"],
    ];
    for args in commands {
        let out = atoll_cli(&missing, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{args:?}: exit {:?}: {err}",
            out.status.code()
        );
        assert!(
            err.contains(&*missing.to_string_lossy()) && err.contains("does not exist"),
            "{args:?}: {err}"
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    // The node's own home works.
    let out = node.cli(&["catalog", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello Static"));
}

/// `sync status` reads the node's atoll.toml (its external relay) and prints clean text.
fn sync_status_reads_the_node_config(node: &Node, relay: &str) {
    let out = node.cli(&["sync", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(relay),
        "the configured relay is not shown: {text}"
    );
    assert!(text.contains("atoll.toml"), "{text}");
    assert!(!text.contains("Some("), "{text}");
    let out = node.cli(&["sync", "status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["config"].as_str().unwrap().ends_with("atoll.toml"), "{v}");
    assert!(
        v["relays"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["url"] == relay && r["embedded"] == false),
        "{v}"
    );
}

/// `/api/v1/relays`: the token guards changes, bad URLs are 400 naming the problem, the
/// embedded relay is 409, an unknown one 404; an unreachable relay added at runtime shows
/// up at once (never a hang) and goes away when removed.
fn relays_change_at_runtime(node: &Node, configured: &str) {
    let delete = |body: &str| {
        let r = reqwest::blocking::Client::new()
            .delete(format!("{}/api/v1/relays", node.url))
            .header("content-type", "application/json")
            .bearer_auth(&node.token)
            .body(body.to_owned())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    };
    let t = Some(node.token.as_str());
    let (_, list) = node.get("/api/v1/relays");
    let relays = list["relays"].as_array().unwrap().clone();
    let configured_row = relays.iter().find(|r| r["url"] == configured).unwrap();
    assert_eq!(configured_row["reason"], "config", "{list}");
    let embedded = relays
        .iter()
        .find(|r| r["source"]["kind"] == "embedded")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = node.post("/api/v1/relays", None, r#"{"url":"ws://127.0.0.1:1"}"#);
    assert_eq!(s, 401, "{v}");
    let (s, v) = node.post("/api/v1/relays", t, r#"{"url":"http://127.0.0.1:1"}"#);
    assert_eq!(s, 400, "{v}");
    assert_error_shape(&v, "bad_request");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ws:// or wss://"),
        "{v}"
    );
    let (s, v) = node.post("/api/v1/relays", t, r#"{"link":"ws://127.0.0.1:1"}"#);
    assert_eq!(s, 400, "{v}");
    let (s, v) = delete(&json!({ "url": embedded }).to_string());
    assert_eq!(s, 409, "{v}");
    let (s, v) = delete(r#"{"url":"ws://127.0.0.1:2"}"#);
    assert_eq!(s, 404, "{v}");
    // Port 1 refuses connections: the relay is listed with its source at once.
    let (s, v) = node.post("/api/v1/relays", t, r#"{"url":"ws://127.0.0.1:1"}"#);
    assert_eq!(s, 200, "{v}");
    let (_, list) = node.get("/api/v1/relays");
    let added = list["relays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["url"] == "ws://127.0.0.1:1")
        .cloned()
        .unwrap_or_else(|| panic!("the added relay is listed: {list}"));
    assert_eq!(added["reason"], "operator", "{list}");
    assert_ne!(added["state"], "connected", "{list}");
    let (s, v) = delete(r#"{"url":"ws://127.0.0.1:1"}"#);
    assert_eq!(s, 200, "{v}");
    let (_, list) = node.get("/api/v1/relays");
    assert!(
        list["relays"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["url"] != "ws://127.0.0.1:1"),
        "{list}"
    );
}

fn assert_error_shape(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

#[test]
fn node_api_browser_and_shutdown() {
    let _podman = podman_user();
    // A third party: another demo node, whose demo publisher this node never pinned.
    // This node follows its relay (an external relay in atoll.toml).
    let mut third = Node::start(third_party_app, &[]);
    let (_, net) = third.get("/api/v1/network");
    let third_relay = net["node"]["embedded_relay"].as_str().unwrap().to_owned();
    let mut node = Node::start(apps_with_hostile, std::slice::from_ref(&third_relay));

    // The demo publisher's apps went out over the node's own relay and came back through
    // its sync pipeline, the third party's came from its relay; wait (bounded) until all
    // five are in the catalog. (Each counts once its manifest blob is fetched, verified
    // and attached.)
    let mut apps = Value::Null;
    for _ in 0..600 {
        apps = node.get("/api/v1/apps").1;
        let ready = apps["items"].as_array().map_or(0, |items| {
            items.iter().filter(|a| a["description"] != "").count()
        });
        if ready == 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (s, st) = node.get("/api/v1/status");
    assert_eq!(s, 200);
    assert_eq!(st["demo"], true);
    assert_eq!(st["apps"], 5, "{apps}");
    assert_eq!(st["publishers"], 2);
    assert_eq!(st["relays_connected"], 2, "{st}");
    let demo_did = st["demo_publisher"].as_str().unwrap();
    let items = apps["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    // Only the demo publisher's apps are demo apps; the third party's is not.
    for a in items {
        let ours = a["publisher"] == demo_did;
        assert_eq!(a["demo"], ours, "{a}");
        assert_eq!(a["trust"]["pinned"], ours, "{a}");
    }
    let elsewhere = items.iter().find(|a| a["app"] == "elsewhere").unwrap();
    assert_eq!(elsewhere["demo"], false);
    let (_, found) = node.get("/api/v1/apps?q=tier");
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["name"], "Two Tier");
    let (_, cats) = node.get("/api/v1/categories");
    assert!(cats
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "demo" && c["count"] == 4));
    let hello = items.iter().find(|a| a["app"] == "hello-static").unwrap();
    let r = hello["ref"].as_str().unwrap();
    let (s, detail) = node.get(&format!("/api/v1/apps/{r}"));
    assert_eq!(s, 200);
    assert_eq!(detail["signature"]["valid"], true);
    assert_eq!(detail["permissions"]["ports"][0]["host"], 18080);
    assert!(detail["trust_explanation"]["path"][0]
        .as_str()
        .unwrap()
        .contains("you pinned"));
    blobs_are_icons_only(&node, &detail, elsewhere);
    let did = hello["publisher"].as_str().unwrap();
    let (_, x) = node.get(&format!("/api/v1/trust/{did}/explain"));
    assert_eq!(x["score"], 1.0);
    let (_, openapi) = node.get("/api/v1/openapi.json");
    assert!(openapi["paths"]["/apps"].is_object());

    // Bad input: a clear error in one JSON shape, and the node keeps serving.
    for (path, code, status) in [
        ("/api/v1/apps?min_trust=5", "bad_request", 400),
        ("/api/v1/apps?sort=bogus", "bad_request", 400),
        ("/api/v1/apps/did:key:zbad/hello", "bad_request", 400),
        ("/api/v1/trust/not-a-did/explain", "bad_request", 400),
        ("/api/v1/nothing-here", "not_found", 404),
        ("/api/v1/jobs/unknown/events", "not_found", 404),
    ] {
        let (s, v) = node.get(path);
        assert_eq!(s, status, "{path}: {v}");
        assert_error_shape(&v, code);
    }
    let (s, v) = node.get(&format!("/api/v1/apps/{did}/no-such-app"));
    assert_eq!(s, 404);
    assert_error_shape(&v, "not_found");

    // Every mutating call without (or with a wrong) token is 401, and changes nothing.
    let install = json!({ "app": r }).to_string();
    let pin = json!({ "did": did }).to_string();
    for (path, body) in [
        ("/api/v1/actions/install", install.as_str()),
        ("/api/v1/actions/uninstall", install.as_str()),
        ("/api/v1/actions/stop", install.as_str()),
        ("/api/v1/trust/block", pin.as_str()),
        ("/api/v1/trust/pin", pin.as_str()),
    ] {
        for token in [None, Some("0".repeat(64).as_str()), Some("wrong")] {
            let (s, v) = node.post(path, token, body);
            assert_eq!(s, 401, "{path} with {token:?}: {v}");
            assert_error_shape(&v, "unauthorized");
        }
    }
    let (_, still) = node.get(&format!("/api/v1/trust/{did}/explain"));
    assert_eq!(still["decision"], "pin");
    // With the token: malformed bodies are 400, unknown operations 404.
    let t = Some(node.token.as_str());
    let (s, v) = node.post("/api/v1/trust/block", t, "{not json");
    assert_eq!(s, 400);
    assert_error_shape(&v, "bad_request");
    let (s, v) = node.post("/api/v1/trust/block", t, r#"{"did":"did:key:zzz"}"#);
    assert_eq!(s, 400, "{v}");
    let (s, _) = node.post("/api/v1/actions/explode", t, &install);
    assert_eq!(s, 404);
    let (s, v) = node.post("/api/v1/actions/stop", t, &install);
    assert_eq!(s, 409, "stopping an app that is not installed: {v}");

    // Bounded input, one error shape, slow and flooding clients, jobs that stream.
    errors_are_json_everywhere(&node, r);
    bodies_are_bounded(&node);
    trust_notes_are_bounded(&node, elsewhere["publisher"].as_str().unwrap());
    slow_client_is_cut_off(&node);
    flood_beyond_the_cap(&node);
    job_events_stream_to_the_end(&node, &install);

    // The CLI on the node's home: no home made by a typo; sync status as the node sees it.
    cli_refuses_a_missing_home(&node, r, did);
    sync_status_reads_the_node_config(&node, &third_relay);
    relays_change_at_runtime(&node, &third_relay);

    // DNS rebinding: a Host that is not this node is refused.
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/status", node.url))
        .header("host", "attacker.example:80")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // The marketplace in a real browser, hostile strings included: search, open an app,
    // pin the third party and install its app on rootless podman with live progress (its
    // image fetched over iroh from the third party's node, shown in bytes with the source
    // and path), open its web UI, uninstall it, unpin the third party.
    // Screenshots are written (and the dir made) only when the browser test fails.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/marketplace.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env(
            "ATOLL_DOC_SHOT",
            std::env::var("ATOLL_DOC_SHOT").unwrap_or_default(),
        )
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    if !browser.success() {
        // Leave no container behind when the browser stopped between install and uninstall.
        let third_app = json!({ "app": elsewhere["ref"], "purge": true }).to_string();
        let (s, job) = node.post("/api/v1/actions/uninstall", t, &third_app);
        if s == 202 {
            follow(&node, job["events"].as_str().unwrap());
        }
    }
    assert!(
        browser.success(),
        "browser test failed; screenshots in {}",
        shots.display()
    );

    // Trust with the token: blocking the publisher drops its score to 0 and install is
    // refused (403) until it is pinned again.
    let (s, x) = node.post("/api/v1/trust/block", t, &pin);
    assert_eq!(s, 200, "{x}");
    assert_eq!(x["decision"], "block");
    assert_eq!(x["score"], 0.0);
    let (s, v) = node.post("/api/v1/actions/install", t, &install);
    assert_eq!(s, 403, "{v}");
    assert_error_shape(&v, "forbidden");
    // No override for a blocked publisher: override_trust covers the threshold only.
    let mut forced: Value = serde_json::from_str(&install).unwrap();
    forced["override_trust"] = true.into();
    let (s, v) = node.post("/api/v1/actions/install", t, &forced.to_string());
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("blocked")),
        "{v}"
    );
    let (_, list) = node.get("/api/v1/trust");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["did"] == did && p["blocked"] == true));
    let (s, _) = node.post("/api/v1/trust/unblock", t, &pin);
    assert_eq!(s, 200);
    let (s, x) = node.post("/api/v1/trust/pin", t, &pin);
    assert_eq!(s, 200);
    assert_eq!(x["score"], 1.0);

    // Graceful shutdown: SIGTERM ends the node cleanly, and its catalog opens again.
    let status = node.terminate();
    assert!(status.success(), "node exited with {status}");
    node.assert_no_podman_left();
    let db = node.home.path().join("catalog.db");
    let c = atoll_catalog::Catalog::open(&db).unwrap();
    assert!(c.schema_version().unwrap() >= 1);
    let status = third.terminate();
    assert!(
        status.success(),
        "the third-party node exited with {status}"
    );
    // The first node up started the podman API service (the other one uses it): it is
    // stopped with its node, also when the other node stopped first.
    third.assert_no_podman_left();
}

//! The processes of the multi-host test, each on its host (a network namespace of
//! [`super::netns`], or the root namespace for the operator): the third-party Nostr
//! relay and the iroh project's relay server on `net`, and `atoll node` processes with
//! their own data dir and config file. Every one is stopped on drop.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netns::{Host, Hosts, NET_IP};
use super::repo;

/// Port of the Nostr relay on `net`.
pub const NOSTR_PORT: u16 = 7447;
/// Port of the iroh relay server on `net` (its `--dev` plain-HTTP mode).
pub const IROH_RELAY_PORT: u16 = 3340;

/// The Nostr relay's URL.
pub fn nostr_url() -> String {
    format!("ws://{NET_IP}:{NOSTR_PORT}")
}

/// The iroh relay's URL.
pub fn iroh_relay_url() -> String {
    format!("http://{NET_IP}:{IROH_RELAY_PORT}")
}

/// Run an install script of `scripts/` and return the last line it printed (a path).
fn installed(script: &str) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("scripts").join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running scripts/{script}: {e}"));
    assert!(out.status.success(), "scripts/{script} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().unwrap_or("").trim())
}

/// Stop a process group: SIGTERM, up to 10 s, then SIGKILL.
fn stop_group(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.wait();
}

/// Wait (bounded) until a TCP port accepts connections, in `host`'s namespace.
fn wait_listening(hosts: &Hosts, host: Host, addr: String, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = addr.clone();
        let up = hosts.within(host, move || {
            std::net::TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_secs(1))
                .is_ok()
        });
        if up {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what} exited before it listened on {addr}"
        );
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {addr} in 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The third-party Nostr relay (PyPI `nostr-relay`) on `net`, its database kept across
/// restarts.
pub struct NostrRelay {
    child: Option<Child>,
    dir: PathBuf,
}

impl NostrRelay {
    /// Start it on `net`, with its database and log in `dir`.
    pub fn start(hosts: &Hosts, dir: &Path) -> NostrRelay {
        let mut r = NostrRelay {
            child: None,
            dir: dir.to_owned(),
        };
        r.restart(hosts);
        r
    }

    /// Start it (again, on the same database).
    pub fn restart(&mut self, hosts: &Hosts) {
        self.stop();
        let bin = installed("install-test-relay.sh");
        let config = self.dir.join("relay.yaml");
        std::fs::write(
            &config,
            format!(
                "DEBUG: false\nrelay_name: atoll multi-host test\nstorage:\n  sqlalchemy.url: \
                 sqlite+aiosqlite:///{db}\n  validators:\n    - nostr_relay.validators.is_signed\n    \
                 - nostr_relay.validators.is_not_too_large\n\
                 gunicorn:\n  bind: {NET_IP}:{NOSTR_PORT}\n  workers: 1\n  loglevel: warning\n\
                 authentication:\n  enabled: false\nmax_event_size: 262144\nsubscription_limit: 64\n",
                db = self.dir.join("nostr.sqlite3").display()
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("relay.log"))
            .unwrap();
        let mut cmd = hosts.command(Host::Net, bin.join("nostr-relay").to_str().unwrap());
        cmd.arg("-c")
            .arg(&config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = std::os::unix::process::CommandExt::process_group(&mut cmd, 0)
            .spawn()
            .expect("start nostr-relay");
        wait_listening(
            hosts,
            Host::Net,
            format!("{NET_IP}:{NOSTR_PORT}"),
            "nostr-relay",
            &mut child,
        );
        self.child = Some(child);
    }

    /// Stop it (its database stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_group(&mut c);
        }
    }
}

impl Drop for NostrRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The iroh project's relay server (`iroh-relay --dev`: plain HTTP) on `net`.
pub struct IrohRelay {
    child: Child,
}

impl IrohRelay {
    /// Start it on `net`, with its config in `dir`.
    pub fn start(hosts: &Hosts, dir: &Path) -> IrohRelay {
        let bin = std::env::var_os("ATOLL_IROH_RELAY")
            .map(PathBuf::from)
            .unwrap_or_else(|| installed("install-iroh-relay.sh"));
        let config = dir.join("iroh-relay.toml");
        std::fs::write(
            &config,
            format!("http_bind_addr = \"{NET_IP}:{IROH_RELAY_PORT}\"\nenable_metrics = false\n"),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("iroh-relay.log")).unwrap();
        let mut cmd = hosts.command(Host::Net, bin.to_str().unwrap());
        cmd.arg("--dev")
            .arg("--config-path")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = std::os::unix::process::CommandExt::process_group(&mut cmd, 0)
            .spawn()
            .expect("start iroh-relay");
        wait_listening(
            hosts,
            Host::Net,
            format!("{NET_IP}:{IROH_RELAY_PORT}"),
            "iroh-relay",
            &mut child,
        );
        IrohRelay { child }
    }
}

impl Drop for IrohRelay {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// What a node printed on stderr, kept for the test to wait on.
#[derive(Default)]
pub struct Log {
    lines: Mutex<VecDeque<String>>,
    more: Condvar,
}

impl Log {
    /// Wait (bounded) for a line containing every one of `parts`, from line `from` on;
    /// return its index and the line.
    pub fn wait_for(&self, from: usize, parts: &[&str], within: Duration) -> (usize, String) {
        let deadline = Instant::now() + within;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if let Some((i, l)) = lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| parts.iter().all(|p| l.contains(p)))
            {
                return (i, l.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no log line with {parts:?} in {within:?}");
            lines = self.more.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// How many lines so far.
    pub fn len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }
}

/// One `atoll node` process on a host, with its own data dir and config file.
pub struct HostNode {
    /// For logs: `pub`, `mirror`, `operator`, ….
    pub name: &'static str,
    /// Its namespace (`None`: the root namespace, the operator's).
    pub host: Option<Host>,
    child: Option<Child>,
    /// The data dir.
    pub home: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` (on the host's own loopback).
    pub url: String,
    /// The admin token.
    pub token: String,
    /// Its stderr, line by line.
    pub log: Arc<Log>,
    /// `ATOLL_PODMAN_TAG`: on every podman process the node starts.
    pub tag: String,
}

impl HostNode {
    /// Start a node on `host` (`None`: the root namespace) with this config file text.
    /// Nodes in a namespace have no container runtime (no podman user is named).
    pub fn start(hosts: &Hosts, name: &'static str, host: Option<Host>, config: &str) -> HostNode {
        let mut n = HostNode::prepare(name, host, config);
        n.launch(hosts);
        n
    }

    /// A node's data dir and config, not started yet ([`HostNode::launch`] starts it).
    pub fn prepare(name: &'static str, host: Option<Host>, config: &str) -> HostNode {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("atoll.toml"), config).unwrap();
        HostNode {
            name,
            host,
            child: None,
            home,
            url: String::new(),
            token: String::new(),
            log: Arc::new(Log::default()),
            tag: format!("atoll-mh-{}-{name}", std::process::id()),
        }
    }

    /// The command running `atoll` (the CLI or the node) on this node's host and home.
    pub fn atoll(&self, hosts: &Hosts) -> Command {
        let exe = env!("CARGO_BIN_EXE_atoll");
        let mut c = match self.host {
            Some(h) => hosts.command(h, exe),
            None => Command::new(exe),
        };
        c.arg("--home")
            .arg(self.home.path())
            .env_remove("ATOLL_LOG");
        if self.host.is_some() {
            // No podman on these hosts: a user that does not exist, so the node runs
            // without a container runtime instead of sharing the operator's podman.
            c.env("ATOLL_PODMAN_USER", "atoll-multihost-no-podman");
        }
        c
    }

    /// Run the CLI on this node's host and home; panic unless it succeeds; its stdout.
    pub fn cli(&self, hosts: &Hosts, args: &[&str]) -> String {
        let out = self.atoll(hosts).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "[{}] atoll {args:?}: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start the node process; wait (bounded) until it serves its API.
    pub fn launch(&mut self, hosts: &Hosts) {
        let mut cmd = self.atoll(hosts);
        cmd.arg("node")
            .arg("--config")
            .arg(self.home.path().join("atoll.toml"))
            .env("ATOLL_LOG", "info")
            .env("ATOLL_PODMAN_TAG", &self.tag)
            .env_remove("ATOLL_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        let name = self.name;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{name}] {line}");
                if let Some(rest) = line.split("marketplace on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                log.lines.lock().unwrap().push_back(line);
                log.more.notify_all();
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("[{}] the node did not print its address", self.name);
            }
        };
        self.url = url.trim_end_matches('/').to_owned();
        self.token = std::fs::read_to_string(self.home.path().join("admin.token"))
            .unwrap()
            .trim()
            .to_owned();
        self.child = Some(child);
    }

    /// Stop the node (SIGTERM, bounded wait, then SIGKILL); its data dir stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..300 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        super::kill_tagged(&self.tag);
    }

    /// Start the node again on the same data dir and config.
    pub fn restart(&mut self, hosts: &Hosts) {
        self.stop();
        self.launch(hosts);
    }

    /// An HTTP request to the node's API, sent from its own host.
    fn request(
        &self,
        hosts: &Hosts,
        method: &'static str,
        path: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let token = self.token.clone();
        let send = move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap();
            let mut req = match method {
                "POST" => client.post(&url),
                "DELETE" => client.delete(&url),
                _ => client.get(&url),
            };
            if let Some(b) = body {
                req = req
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(b);
            }
            let r = req.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
            let status = r.status().as_u16();
            (status, r.json().unwrap_or(Value::Null))
        };
        match self.host {
            Some(h) => hosts.within(h, send),
            None => send(),
        }
    }

    /// GET an API path.
    pub fn get(&self, hosts: &Hosts, path: &str) -> (u16, Value) {
        self.request(hosts, "GET", path, None)
    }

    /// POST a JSON body with the admin token.
    pub fn post(&self, hosts: &Hosts, path: &str, body: &Value) -> (u16, Value) {
        self.request(hosts, "POST", path, Some(body.to_string()))
    }

    /// Wait (bounded) until `check` accepts the answer to `GET path`; return it.
    pub fn until(
        &self,
        hosts: &Hosts,
        path: &str,
        within: Duration,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (s, v) = self.get(hosts, path);
            if s == 200 && check(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "[{}] {what}: not within {within:?}; last {path}: {s} {v}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for HostNode {
    fn drop(&mut self) {
        self.stop();
        if self.host.is_none() {
            purge_podman(self.home.path());
        }
    }
}

/// Remove what rootless podman still holds of a root-namespace node (after a failed
/// test, an app left running would hold its host port for the next run).
fn purge_podman(home: &Path) {
    // The node label is derived from the data dir, as `start_orchestrator` does.
    let id = atoll_registry::Hash::of(home.display().to_string().as_bytes()).to_hex();
    let label = format!("label=io.atoll.node=atoll-{}", &id[..10]);
    for (list, remove) in [
        (&["ps", "-a", "-q"][..], &["rm", "-f", "-t", "0"][..]),
        (&["network", "ls", "-q"][..], &["network", "rm", "-f"][..]),
        (&["volume", "ls", "-q"][..], &["volume", "rm", "-f"][..]),
    ] {
        let mut args = list.to_vec();
        args.extend(["--filter", label.as_str()]);
        let out = super::crash::podman(&args);
        let ids = String::from_utf8_lossy(&out.stdout).into_owned();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            eprintln!("[multihost] removing podman leftovers {ids:?}");
            let mut args = remove.to_vec();
            args.extend(ids);
            let _ = super::crash::podman(&args);
        }
    }
}

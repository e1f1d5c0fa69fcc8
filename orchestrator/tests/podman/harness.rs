//! Test harness: an isolated podman instance per test (own `--root`, `--runroot`,
//! `--tmpdir` and API socket, all under one base dir), so tests never see or disturb other
//! containers of the podman user, concurrent test runs, or each other. Everything is removed
//! when the [`Env`] is dropped, also after a failure.
//!
//! Needs a host prepared by `scripts/setup-host.sh` and images built by
//! `scripts/build-images.sh`; without them the tests FAIL (never skip) with a hint.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use atoll_orchestrator::{Config, MemoryStore, Orchestrator, PodmanConfig, Release, StorageDirs};

pub const SETUP_HINT: &str =
    "this test needs rootless podman: run `sudo scripts/setup-host.sh` and `scripts/build-images.sh`";

/// How long a test waits for something before declaring it hung. A hang guard, not a timing
/// requirement: healthy runs finish far sooner.
pub const HANG_GUARD: Duration = Duration::from_secs(240);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Make the test logs visible with `RUST_LOG=atoll_orchestrator=debug`.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "atoll_orchestrator=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// `apps/<id>`.
pub fn app_dir(id: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../apps")
        .join(id)
}

/// The release of a sample app (its archives must be built).
pub fn release(id: &str) -> Release {
    let dir = app_dir(id);
    for c in atoll_registry::manifest::load(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
        .containers
    {
        if let Some(a) = &c.image.archive {
            assert!(
                dir.join(a).is_file(),
                "{} is missing: {SETUP_HINT}",
                dir.join(a).display()
            );
        }
    }
    Release::from_app_dir(&dir).unwrap_or_else(|e| panic!("{e}"))
}

/// A release of a sample app with its manifest changed by `edit`.
pub fn release_with(id: &str, edit: impl FnOnce(&mut atoll_registry::Manifest)) -> Release {
    let base = release(id);
    let mut manifest = base.manifest.clone();
    edit(&mut manifest);
    Release::new(manifest, &base.artifact_dir, base.artifacts.clone())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A free TCP port on 127.0.0.1 (the kernel's choice, so concurrent runs do not collide).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    l.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
}

/// `GET path` on 127.0.0.1:port: status and body, or `None` if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((code, body))
}

/// Poll `cond` until it holds (panics after [`HANG_GUARD`]).
pub async fn eventually<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(start.elapsed() < HANG_GUARD, "hung waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Is the process alive (not missing, not a zombie)?
pub fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].trim_start().chars().next())
            .is_some_and(|c| c != 'Z' && c != 'X')
    })
}

/// Poll the orchestrator until `name` is ready (panics after [`HANG_GUARD`]).
pub async fn until_ready(
    orch: &atoll_orchestrator::Orchestrator,
    name: &str,
) -> atoll_orchestrator::AppStatus {
    let start = Instant::now();
    loop {
        let status = orch.status(name).await;
        if let Ok(s) = &status {
            if s.state == atoll_orchestrator::AppState::Ready {
                return s.clone();
            }
        }
        assert!(
            start.elapsed() < HANG_GUARD,
            "hung waiting for {name} to be ready: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Leftovers carrying our node label.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Labelled {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Labelled {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

/// An isolated podman instance plus a data dir.
pub struct Env {
    pub base: PathBuf,
    pub data: PathBuf,
    pub storage: StorageDirs,
    pub socket: PathBuf,
    pub node: String,
    pub tag: String,
    pub user: String,
    pub uid: u32,
    /// Desired state, shared by every orchestrator opened on this instance (a restart).
    pub store: std::sync::Arc<MemoryStore>,
}

fn uid_of(user: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", user]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

impl Env {
    /// A fresh instance. Panics with a setup hint if podman is not usable.
    pub fn new(label: &str) -> Env {
        init_tracing();
        let user = std::env::var("ATOLL_PODMAN_USER").unwrap_or_else(|_| "atoll".to_owned());
        let uid = uid_of(&user)
            .unwrap_or_else(|| panic!("the podman user `{user}` does not exist: {SETUP_HINT}"));
        let me = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        assert_eq!(
            me, 0,
            "run these tests as root (they start podman as `{user}`): {SETUP_HINT}"
        );
        assert!(
            Path::new(&format!("/run/user/{uid}")).is_dir(),
            "/run/user/{uid} is missing: {SETUP_HINT}"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let node = format!("t{pid}-{n}-{label}");
        // Short paths: the API socket path must fit in sun_path.
        let base = PathBuf::from(format!("/var/tmp/atoll-it/{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap_or_else(|e| panic!("{e}"));
        for d in [Path::new("/var/tmp/atoll-it"), base.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let pod = base.join("podman");
        std::fs::create_dir_all(&pod).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::chown(&pod, Some(uid), Some(uid)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&pod, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("{e}"));
        let env = Env {
            data: base.join("data"),
            storage: StorageDirs {
                root: pod.join("root"),
                runroot: pod.join("run"),
                tmpdir: pod.join("tmp"),
            },
            socket: pod.join("api.sock"),
            base,
            node,
            tag: format!("atoll-it-{pid}-{n}"),
            store: std::sync::Arc::new(MemoryStore::new()),
            user,
            uid,
        };
        let out = env.podman(&[
            "info",
            "--format",
            "{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}}",
        ]);
        assert!(
            out.status.success(),
            "`podman info` failed for {}: {}\n{SETUP_HINT}",
            env.user,
            String::from_utf8_lossy(&out.stderr)
        );
        env
    }

    pub fn podman_config(&self) -> PodmanConfig {
        PodmanConfig {
            user: Some(self.user.clone()),
            socket: Some(self.socket.clone()),
            storage: Some(self.storage.clone()),
            tag: self.tag.clone(),
            binary: PathBuf::from("podman"),
        }
    }

    pub fn config(&self) -> Config {
        let mut c = Config::new(&self.node, &self.data, self.podman_config());
        c.resync = Duration::from_secs(5);
        c
    }

    pub async fn orchestrator(&self) -> Orchestrator {
        self.orchestrator_with(self.config()).await
    }

    pub async fn orchestrator_with(&self, config: Config) -> Orchestrator {
        Orchestrator::open(config, self.store.clone())
            .await
            .unwrap_or_else(|e| panic!("orchestrator did not start: {e}\n{SETUP_HINT}"))
    }

    /// The podman CLI of this instance, as the podman user (runuser, as documented).
    pub fn podman_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", &self.user, "--", "env", "-C", "/"])
            .arg(format!("XDG_RUNTIME_DIR=/run/user/{}", self.uid))
            .arg(format!("ATOLL_PODMAN_TAG={}", self.tag))
            .arg("podman")
            .args([
                "--root",
                &self.storage.root.display().to_string(),
                "--runroot",
                &self.storage.runroot.display().to_string(),
                "--tmpdir",
                &self.storage.tmpdir.display().to_string(),
            ])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn podman(&self, args: &[&str]) -> Output {
        self.podman_cmd(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run podman: {e}; {SETUP_HINT}"))
    }

    pub fn podman_ok(&self, args: &[&str]) -> String {
        let out = self.podman(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn inspect(&self, name: &str) -> Option<serde_json::Value> {
        let out = self.podman(&["container", "inspect", name]);
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v.get(0).cloned()
    }

    /// Container ids by name of everything carrying our node label.
    pub fn containers(&self) -> BTreeMap<String, String> {
        let out = self.podman_ok(&[
            "ps",
            "-a",
            "--format",
            "json",
            "--filter",
            &format!("label=io.atoll.node={}", self.node),
        ]);
        let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        v.iter()
            .filter_map(|c| {
                Some((
                    c["Names"][0].as_str()?.to_owned(),
                    c["Id"].as_str()?.to_owned(),
                ))
            })
            .collect()
    }

    /// Everything carrying our node label.
    pub fn labelled(&self) -> Labelled {
        let filter = format!("label=io.atoll.node={}", self.node);
        let names = |args: &[&str]| -> Vec<String> {
            self.podman_ok(args)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Labelled {
            containers: self.containers().into_keys().collect(),
            networks: names(&[
                "network",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}}",
            ]),
            volumes: names(&["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"]),
        }
    }

    /// PIDs of every process of this instance: tagged processes (service, slirp4netns,
    /// aardvark-dns, rootlessport), processes naming its paths (conmon), and their
    /// descendants (containers).
    pub fn instance_pids(&self) -> Vec<i32> {
        let marker = format!("ATOLL_PODMAN_TAG={}", self.tag);
        let base = format!("{}/", self.base.display());
        let mut procs: Vec<(i32, i32, bool)> = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                let ppid = stat
                    .rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                // conmon gets a clean environment: it is found by its paths.
                let tagged = environ.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())
                    || String::from_utf8_lossy(&cmdline).contains(&base);
                procs.push((pid, ppid, tagged));
            }
        }
        let mut set: Vec<i32> = procs.iter().filter(|p| p.2).map(|p| p.0).collect();
        loop {
            let before = set.len();
            for (pid, ppid, _) in &procs {
                if set.contains(ppid) && !set.contains(pid) {
                    set.push(*pid);
                }
            }
            if set.len() == before {
                break;
            }
        }
        set
    }

    /// Netns files of this instance under /run/user/<uid>/netns.
    fn netns_files(&self, pids: &[i32]) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for pid in pids {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            for arg in cmd.split(|b| *b == 0) {
                let a = String::from_utf8_lossy(arg);
                if a.starts_with(&format!("/run/user/{}/netns/", self.uid)) {
                    out.push(PathBuf::from(a.as_ref()));
                }
            }
        }
        for (_, id) in self.containers() {
            if let Some(i) = self.inspect(&id) {
                if let Some(k) = i["NetworkSettings"]["SandboxKey"].as_str() {
                    if !k.is_empty() {
                        out.push(PathBuf::from(k));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn kill_all(pids: &[i32]) {
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        // Wait until they are gone (or zombies waiting for their parent).
        for pid in pids {
            let stat = format!("/proc/{pid}/stat");
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                match std::fs::read_to_string(&stat) {
                    Ok(s)
                        if s.rfind(')')
                            .and_then(|i| s[i + 1..].trim_start().chars().next())
                            != Some('Z') =>
                    {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => break,
                }
            }
        }
    }

    /// Lazily unmount everything of this instance inside the rootless mount namespace.
    fn unmount_instance(&self, extra: &[PathBuf]) {
        let mut prefixes = vec![self.base.display().to_string()];
        prefixes.extend(extra.iter().map(|p| p.display().to_string()));
        let script = format!(
            "for p in {}; do awk -v p=\"$p\" '$5 == p || index($5, p\"/\") == 1 {{ print $5 }}' /proc/self/mountinfo; done | sort -r | uniq | while read m; do umount -l \"$m\" 2>/dev/null; done; true",
            prefixes.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(" ")
        );
        let _ = Command::new("runuser")
            .args(["-u", &self.user, "--", "env", "-C", "/"])
            .arg(format!("XDG_RUNTIME_DIR=/run/user/{}", self.uid))
            .args(["podman", "unshare", "sh", "-c", &script])
            .stdin(Stdio::null())
            .output();
    }

    /// A simulated reboot of this instance: every process killed (containers, conmon,
    /// service, network helpers), mounts gone, runtime dirs wiped (runroot, tmpdir, the
    /// runc state of its containers, its netns files). Containers come back `Created`.
    pub fn simulate_reboot(&self) {
        let ids: Vec<String> = self
            .podman_ok(&["ps", "-aq", "--no-trunc"])
            .lines()
            .map(str::to_owned)
            .collect();
        let pids = self.instance_pids();
        let netns = self.netns_files(&pids);
        Self::kill_all(&pids);
        self.unmount_instance(&netns);
        for n in &netns {
            let _ = std::fs::remove_file(n);
        }
        for id in ids {
            let _ = std::fs::remove_dir_all(format!("/run/user/{}/runc/{id}", self.uid));
        }
        for d in [&self.storage.runroot, &self.storage.tmpdir] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    /// kill -9 a container's process together with its conmon: podman keeps saying
    /// `running` with a dead PID (a zombie).
    pub fn kill_with_conmon(&self, name: &str) -> (i64, i64) {
        let i = self
            .inspect(name)
            .unwrap_or_else(|| panic!("no container {name}"));
        let pid = i["State"]["Pid"].as_i64().unwrap_or(0);
        let conmon = i["State"]["ConmonPid"].as_i64().unwrap_or(0);
        assert!(pid > 0 && conmon > 0, "{name} is not running: {i}");
        Self::kill_all(&[conmon as i32, pid as i32]);
        (pid, conmon)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "-af", "-t", "0"]);
        let _ = self.podman(&["network", "prune", "-f"]);
        let _ = self.podman(&["volume", "prune", "-f"]);
        let pids = self.instance_pids();
        let netns = self.netns_files(&pids);
        Self::kill_all(&pids);
        self.unmount_instance(&netns);
        for n in &netns {
            let _ = std::fs::remove_file(n);
        }
        self.remove_runc_state();
        let _ = std::fs::remove_dir_all(&self.base);
        // The shared parent goes once the last instance is gone (fails while others live).
        let _ = std::fs::remove_dir("/var/tmp/atoll-it");
    }
}

impl Env {
    /// What of this instance still runs or lingers besides the API service: processes
    /// (conmon, containers, network helpers) and runc state dirs.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for pid in self.instance_pids() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let comm = comm.trim();
            let zombie = !pid_alive(i64::from(pid));
            if comm != "podman" && !comm.is_empty() && !zombie {
                out.push(format!("process {pid} {comm}"));
            }
        }
        let base = self.base.display().to_string();
        if let Ok(dir) = std::fs::read_dir(format!("/run/user/{}/runc", self.uid)) {
            for e in dir.flatten() {
                let state =
                    std::fs::read_to_string(e.path().join("state.json")).unwrap_or_default();
                if state.contains(&base) {
                    out.push(format!("runc state {}", e.path().display()));
                }
            }
        }
        out
    }

    /// runc state dirs (in the user's runtime dir, shared by all instances) of this
    /// instance's containers.
    fn remove_runc_state(&self) {
        let base = self.base.display().to_string();
        let Ok(dir) = std::fs::read_dir(format!("/run/user/{}/runc", self.uid)) else {
            return;
        };
        for e in dir.flatten() {
            let state = std::fs::read_to_string(e.path().join("state.json")).unwrap_or_default();
            if state.contains(&base) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

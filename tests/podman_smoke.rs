//! Smoke test of the real container path: the hello-static sample app's OCI archive is
//! built offline (scripts/build-images.sh), loaded into the rootless podman of the user
//! `ATOLL_PODMAN_USER` (default `atoll`), run with a published port, and answers HTTP.
//!
//! Needs a host prepared by `sudo scripts/setup-host.sh`. Without it the test fails (it never
//! skips): a green run must mean that containers really ran.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SETUP_HINT: &str = "run `sudo scripts/setup-host.sh` first";
/// Text that apps/hello-static/image-src/web/www/index.html serves.
const EXPECTED_BODY: &str = "Hello from atoll";
const POLL_ATTEMPTS: u32 = 300;
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How to run podman as the rootless user, from root (runuser) or as that user itself.
struct Podman {
    user: String,
    runtime_dir: String,
    via_runuser: bool,
}

impl Podman {
    fn from_env() -> Podman {
        let user = std::env::var("ATOLL_PODMAN_USER").unwrap_or_else(|_| "atoll".to_owned());
        let id = Command::new("id")
            .args(["-u", &user])
            .output()
            .expect("running `id`");
        assert!(
            id.status.success(),
            "the podman user `{user}` does not exist (ATOLL_PODMAN_USER): {SETUP_HINT}"
        );
        let uid: u32 = String::from_utf8_lossy(&id.stdout)
            .trim()
            .parse()
            .expect("`id -u` printed a number");
        let my_uid = std::fs::metadata("/proc/self")
            .expect("reading /proc/self")
            .uid();
        assert!(
            my_uid == 0 || my_uid == uid,
            "run this test as root (it uses runuser) or as `{user}` itself"
        );
        Podman {
            user,
            runtime_dir: format!("/run/user/{uid}"),
            via_runuser: my_uid == 0,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = if self.via_runuser {
            let mut c = Command::new("runuser");
            c.args(["-u", &self.user, "--", "env", "-C", "/"])
                .arg(format!("XDG_RUNTIME_DIR={}", self.runtime_dir))
                .arg("podman");
            c
        } else {
            let mut c = Command::new("podman");
            c.current_dir("/").env("XDG_RUNTIME_DIR", &self.runtime_dir);
            c
        };
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("could not start podman {args:?}: {e}; {SETUP_HINT}"))
    }

    /// Runs podman and returns its stdout, failing the test with its stderr otherwise.
    fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Removes the container when dropped, whether the test passed or panicked.
struct ContainerGuard<'a> {
    podman: &'a Podman,
    name: String,
}

impl Drop for ContainerGuard<'_> {
    fn drop(&mut self) {
        // Never panic here: a panic while unwinding from a failed assertion aborts the run.
        let result = self
            .podman
            .command(&["rm", "--force", "--time", "0", &self.name])
            .output();
        match result {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cleanup: podman rm -f {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cleanup: could not run podman rm -f {}: {e}", self.name),
        }
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the archive (a no-op when it is up to date: the build is deterministic).
fn build_archive(root: &Path) -> PathBuf {
    let archive = root.join("apps/hello-static/images/web.oci.tar");
    let out = Command::new("bash")
        .arg(root.join("scripts/build-images.sh"))
        .arg("hello-static")
        .stdin(Stdio::null())
        .output()
        .expect("running scripts/build-images.sh");
    assert!(
        out.status.success(),
        "scripts/build-images.sh hello-static failed ({SETUP_HINT}): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(archive.is_file(), "{} was not built", archive.display());
    archive
}

/// `podman load` from stdin (so the user needs no access to the checkout); returns the name.
fn load_image(podman: &Podman, archive: &Path) -> String {
    let file = File::open(archive).expect("opening the image archive");
    let out = podman
        .command(&["load"])
        .stdin(Stdio::from(file))
        .output()
        .expect("running podman load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "podman load failed ({}): {}{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| l.starts_with("Loaded image"))
        .find_map(|l| l.split_once(": ").map(|(_, name)| name.trim().to_owned()))
        .unwrap_or_else(|| panic!("podman load printed no image name: {stdout}"))
}

fn free_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0 for a free port");
    listener.local_addr().expect("local address").port()
}

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("atoll-smoke-{}-{nanos}", std::process::id())
}

/// One HTTP/1.0 GET; returns (status code, body).
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .lines()
        .next()
        .and_then(|status| status.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status line in {head:?}")))?;
    Ok((code, body.to_owned()))
}

#[test]
fn hello_static_runs_on_rootless_podman() {
    let podman = Podman::from_env();
    let info = podman.output(&["info", "--format", "{{.Store.GraphDriverName}}"]);
    assert!(
        info.status.success(),
        "rootless podman does not work for user `{}`: {SETUP_HINT}\n{}",
        podman.user,
        String::from_utf8_lossy(&info.stderr)
    );

    let archive = build_archive(&repo_root());
    let image = load_image(&podman, &archive);

    let port = free_port();
    let guard = ContainerGuard {
        podman: &podman,
        name: unique_name(),
    };
    let publish = format!("127.0.0.1:{port}:8080");
    let started = Instant::now();
    podman.run(&[
        "run",
        "--detach",
        "--name",
        &guard.name,
        "--label",
        "atoll.test=podman_smoke",
        "--init",
        "--read-only",
        "--user",
        "0",
        "--cap-drop",
        "all",
        "--publish",
        &publish,
        &image,
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
    ]);

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut last = String::from("no attempt made");
    let mut served = None;
    for attempt in 1..=POLL_ATTEMPTS {
        match http_get(addr, "/") {
            Ok((200, body)) if body.contains(EXPECTED_BODY) => {
                served = Some(attempt);
                break;
            }
            Ok((code, body)) => last = format!("HTTP {code}: {body}"),
            Err(e) => last = format!("{e}"),
        }
        let state = podman.run(&["inspect", "--format", "{{.State.Status}}", &guard.name]);
        assert_eq!(
            state.trim(),
            "running",
            "the container stopped; logs:\n{}",
            podman.run(&["logs", &guard.name])
        );
        thread::sleep(POLL_INTERVAL);
    }
    let attempts = served.unwrap_or_else(|| {
        panic!("GET http://{addr}/ never returned 200 with {EXPECTED_BODY:?}; last: {last}")
    });
    eprintln!(
        "hello-static ({image}) answered 200 on {addr} after {attempts} attempt(s), {:?}",
        started.elapsed()
    );

    let name = guard.name.clone();
    drop(guard);
    let exists = podman.output(&["container", "exists", &name]);
    assert_eq!(
        exists.status.code(),
        Some(1),
        "container {name} is still there after cleanup"
    );
}

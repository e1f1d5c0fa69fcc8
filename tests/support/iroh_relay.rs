//! The iroh project's relay server (`iroh-relay --dev`, plain HTTP) as a child process of a
//! test: spawned on a socket the test picks, waited for until it answers `/healthz`, killed
//! (and reaped) on drop. Shared by the test binaries that need a self-hosted iroh relay
//! (`tests/swarm.rs`, `tests/node.rs`): include it with
//! `#[path = "support/iroh_relay.rs"] mod iroh_relay;`.
//!
//! The binary is the one `scripts/install-iroh-relay.sh` installs (and prints):
//! `$ATOLL_IROH_RELAY`, else `~/.cache/atoll-iroh-relay-1.4.1/bin/iroh-relay`. A test that
//! needs it fails, never skips, when it is missing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The iroh-relay version of Cargo.lock (client and server speak the same protocol).
pub const IROH_RELAY_VERSION: &str = "1.4.1";

/// How long the server may take to answer after it was spawned (a bound, not a threshold).
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The installed `iroh-relay` binary; panics with how to install it when it is missing.
pub fn iroh_relay_binary() -> PathBuf {
    let path = std::env::var_os("ATOLL_IROH_RELAY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(format!(
                ".cache/atoll-iroh-relay-{IROH_RELAY_VERSION}/bin/iroh-relay"
            ))
        });
    assert!(
        path.is_file(),
        "the iroh relay server is not installed at {}: run scripts/install-iroh-relay.sh \
         (it prints the path; set ATOLL_IROH_RELAY to use another)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed again).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `iroh-relay --dev`.
pub struct IrohRelayServer {
    child: Option<Child>,
    bind: SocketAddr,
    prefix: Vec<String>,
    dir: tempfile::TempDir,
}

impl IrohRelayServer {
    /// On 127.0.0.1, a free port.
    pub fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], free_port())), &[])
    }

    /// On `bind`, run through `prefix` (e.g. `["ip", "netns", "exec", "net"]` to run it in
    /// a network namespace; empty: directly). Readiness is probed from the test process,
    /// so `bind` must be reachable from it.
    pub fn start_on(bind: SocketAddr, prefix: &[&str]) -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(
            dir.path().join("relay.toml"),
            format!(
                "enable_relay = true\nhttp_bind_addr = \"{bind}\"\n\
                 enable_quic_addr_discovery = false\nenable_metrics = false\n"
            ),
        )
        .unwrap();
        let mut server = Self {
            child: None,
            bind,
            prefix: prefix.iter().map(|s| (*s).to_owned()).collect(),
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let binary = iroh_relay_binary();
        let log = std::fs::File::create(self.log_path()).unwrap();
        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        cmd.arg("--dev")
            .arg("--config-path")
            .arg(self.dir.path().join("relay.toml"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", binary.display())),
        );
        self.wait_ready();
    }

    /// Poll `GET /healthz` until it answers 200; panics with the server's log if the
    /// process exits or [`READY_WITHIN`] passes first.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "iroh-relay exited ({status}) before serving:\n{}",
                    self.log()
                );
            }
            if healthz(self.bind) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "iroh-relay on {} did not answer within {READY_WITHIN:?}:\n{}",
                self.bind,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://<bind>` (iroh clients map it to `ws://` for the relay protocol).
    pub fn url(&self) -> String {
        format!("http://{}", self.bind)
    }

    /// The socket it serves on.
    pub fn bind(&self) -> SocketAddr {
        self.bind
    }

    /// Stop it (kill and reap); [`Self::restart`] starts it again on the same socket.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop and start again on the same socket and config.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("relay.log")
    }

    /// What the server wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for IrohRelayServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Does `GET /healthz` on `addr` answer 200?
fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

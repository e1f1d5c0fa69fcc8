//! The `podman system service` supervisor: starts the API service (as the rootless user) when
//! its socket does not answer, and starts it again when it died. Containers keep running
//! while the service is down (PODMAN-NOTES.md), so a restart loses nothing.

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::error::ServiceError;
use crate::host::PodmanHost;
use crate::podman::Podman;

/// How long a ping may take before the service counts as down.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a freshly started service may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// stderr lines kept for error messages.
const STDERR_LINES: usize = 20;

/// Supervises the API service of one podman instance. Dropping it kills the service it
/// started (never one it found running).
#[derive(Debug)]
pub struct Supervisor {
    host: PodmanHost,
    podman: Podman,
    child: tokio::sync::Mutex<Option<Child>>,
    pid: AtomicU32,
    starts: AtomicU64,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Supervisor {
    /// A supervisor for `host`'s socket.
    pub fn new(host: PodmanHost, podman: Podman) -> Self {
        Self {
            host,
            podman,
            child: tokio::sync::Mutex::new(None),
            pid: AtomicU32::new(0),
            starts: AtomicU64::new(0),
            stderr: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    /// PID of the service this supervisor started and that still runs, if any.
    pub fn pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// How many times this supervisor started the service.
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::SeqCst)
    }

    /// Make sure the API answers: start the service if it does not.
    pub async fn ensure(&self) -> Result<(), ServiceError> {
        if self.podman.ping(PING_TIMEOUT).await.is_ok() {
            return Ok(());
        }
        let mut child = self.child.lock().await;
        // Someone else may have brought it up while we waited for the lock.
        if self.podman.ping(PING_TIMEOUT).await.is_ok() {
            return Ok(());
        }
        if let Some(mut old) = child.take() {
            match old.try_wait() {
                Ok(Some(status)) => {
                    tracing::warn!(%status, "podman API service died; starting it again")
                }
                _ => {
                    tracing::warn!("podman API service does not answer; restarting it");
                    let _ = old.kill().await;
                }
            }
            self.pid.store(0, Ordering::SeqCst);
        }
        let mut new = self.spawn()?;
        match self.wait_ready(&mut new).await {
            Ok(()) => {
                *child = Some(new);
                Ok(())
            }
            Err(e) => {
                let _ = new.kill().await;
                self.pid.store(0, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Kill the service this supervisor started (containers keep running).
    pub async fn shutdown(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.kill().await;
        }
        self.pid.store(0, Ordering::SeqCst);
    }

    fn prepare_socket_dir(&self) -> Result<(), ServiceError> {
        let socket = self.host.socket();
        let io = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| ServiceError::Io { path, source }
        };
        if let Some(dir) = socket.parent() {
            if !dir.is_dir() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io(dir))?;
                if self.host.switches_user() {
                    std::os::unix::fs::chown(dir, Some(self.host.uid()), Some(self.host.gid()))
                        .map_err(io(dir))?;
                }
            }
        }
        // A socket file nobody listens on (the service was killed) would stop the new one.
        if socket.exists() {
            if let Err(e) = std::os::unix::net::UnixStream::connect(socket) {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    std::fs::remove_file(socket).map_err(io(socket))?;
                }
            }
        }
        Ok(())
    }

    fn spawn(&self) -> Result<Child, ServiceError> {
        self.prepare_socket_dir()?;
        let address = format!("unix://{}", self.host.socket().display());
        let mut child = self
            .host
            .command()
            .args(["system", "service", "--time=0", &address])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ServiceError::Spawn { source })?;
        self.starts.fetch_add(1, Ordering::SeqCst);
        self.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        tracing::info!(pid = child.id(), socket = %self.host.socket().display(), "started podman API service");
        if let Some(stderr) = child.stderr.take() {
            let tail = self.stderr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    // Without systemd podman logs a failed health-check timer on every start.
                    tracing::debug!(target: "atoll_orchestrator::podman_service", "{line}");
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == STDERR_LINES {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
            });
        }
        Ok(child)
    }

    async fn wait_ready(&self, child: &mut Child) -> Result<(), ServiceError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            if self.podman.ping(PING_TIMEOUT).await.is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Give the stderr reader a moment to catch the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let stderr = self
                    .stderr
                    .lock()
                    .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
                    .unwrap_or_default();
                return Err(ServiceError::Exited { status, stderr });
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(ServiceError::NotReady {
                    socket: self.host.socket().to_owned(),
                    waited: READY_TIMEOUT,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

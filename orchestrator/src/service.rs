//! The `podman system service` supervisor: starts the API service (as the rootless user) when
//! its socket does not answer, and starts it again when it died. Containers keep running
//! while the service is down (PODMAN-NOTES.md), so a restart loses nothing.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::process::Child;

use crate::error::ServiceError;
use crate::host::PodmanHost;
use crate::podman::Podman;

/// How long a ping may take before the service counts as down.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a freshly started service may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of the service's log quoted in error messages.
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

    /// Where the service's stderr goes: a file beside its socket, not a pipe to this
    /// process. A service this process started outlives it when it is SIGKILLed (the next
    /// start uses it), and podman, a Go program, exits on SIGPIPE at its first log line
    /// once the reading end of a pipe on its stderr is gone.
    fn log_path(&self) -> std::path::PathBuf {
        self.host.socket().with_extension("log")
    }

    fn spawn(&self) -> Result<Child, ServiceError> {
        self.prepare_socket_dir()?;
        let address = format!("unix://{}", self.host.socket().display());
        // A new service starts a new log (only one service answers on a socket).
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.log_path())
            .map_err(|source| ServiceError::Spawn { source })?;
        let child = self
            .host
            .command()
            .args(["system", "service", "--time=0", &address])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ServiceError::Spawn { source })?;
        self.starts.fetch_add(1, Ordering::SeqCst);
        self.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        tracing::info!(pid = child.id(), socket = %self.host.socket().display(), log = %self.log_path().display(), "started podman API service");
        Ok(child)
    }

    /// The last lines the service wrote to its log.
    fn log_tail(&self) -> String {
        let text = std::fs::read(self.log_path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text[text.len().saturating_sub(64 * 1024)..]);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(STDERR_LINES)..].join(
            "
",
        )
    }

    async fn wait_ready(&self, child: &mut Child) -> Result<(), ServiceError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            if self.podman.ping(PING_TIMEOUT).await.is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                let stderr = self.log_tail();
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

//! Health checks, scheduled by the orchestrator itself: podman runs none without systemd
//! (PODMAN-NOTES.md). One task per running container (keyed by container id and PID, so a
//! restart gets a fresh task). Until the first success the check runs on a fast schedule
//! (every 50 ms for the first 5 s, then every min(interval, 1 s)) so a ready app is seen
//! ready at once; after it, every `interval`. Failures during `start_period` before the first success do not count;
//! `retries` failures in a row make the container unhealthy.

pub mod probe;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atoll_registry::manifest::Health;
use serde::Serialize;

use crate::error::PodmanError;
use crate::host::PodmanHost;
use crate::podman::Podman;

/// Time between checks before the first success, during [`FAST_PHASE`].
const FAST_POLL: Duration = Duration::from_millis(50);
/// How long after the start checks run every [`FAST_POLL`] until one passes.
const FAST_PHASE: Duration = Duration::from_secs(5);

/// Health of a container as the orchestrator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthStatus {
    /// The manifest defines no check.
    None,
    /// Not passed yet.
    Starting,
    /// Passing.
    Healthy,
    /// Failed `retries` times in a row.
    Unhealthy,
}

/// A check that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbePass {
    /// The command exited 0.
    Command {
        /// Its output.
        output: String,
    },
    /// podman's `/healthcheck` said healthy (no log).
    Healthy,
    /// The TCP port accepts connections.
    PortOpen {
        /// The port probed.
        port: u16,
    },
    /// The HTTP path answered 2xx or 3xx.
    Http {
        /// The path.
        path: String,
        /// The status.
        code: u16,
    },
    /// `wget`/`nc` through `podman exec` reached the port.
    Exec {
        /// The container port.
        port: u16,
    },
}

impl std::fmt::Display for ProbePass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Command { output } => write!(f, "exit 0 {output}"),
            Self::Healthy => f.write_str("healthy"),
            Self::PortOpen { port } => write!(f, "port {port} accepts connections"),
            Self::Http { path, code } => write!(f, "GET {path}: HTTP {code}"),
            Self::Exec { port } => write!(f, "port {port} answers (exec probe)"),
        }
    }
}

/// A check that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeFailure {
    /// podman's `/healthcheck` could not be run.
    #[error(transparent)]
    Podman(Arc<PodmanError>),
    /// The command exited non-zero.
    #[error("exit {code}: {output}")]
    Command {
        /// Its exit code.
        code: i32,
        /// Its output.
        output: String,
    },
    /// podman's `/healthcheck` gave no log, only a status.
    #[error("health command: {status}")]
    CommandStatus {
        /// podman's status.
        status: String,
    },
    /// The manifest's check names no probe.
    #[error("no check defined")]
    NoCheck,
    /// The probe thread could not be started.
    #[error("cannot start probe thread: {0}")]
    Thread(Arc<std::io::Error>),
    /// The probe thread ended without an answer.
    #[error("probe thread ended without an answer")]
    ThreadGone,
    /// No answer within the check's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The container's process (and its network namespace) is gone.
    #[error("container process {pid} is gone: {source}")]
    ProcessGone {
        /// The PID.
        pid: i64,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// The network namespace could not be entered.
    #[error("cannot enter the container's network namespace: {0}")]
    SetNs(rustix::io::Errno),
    /// The port refused or did not answer.
    #[error("connect to port {port}: {source}")]
    Connect {
        /// The port probed.
        port: u16,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// The request could not be sent.
    #[error("send request: {0}")]
    Send(Arc<std::io::Error>),
    /// The answer could not be read.
    #[error("read answer: {0}")]
    Read(Arc<std::io::Error>),
    /// The HTTP path answered with an error status.
    #[error("GET {path}: HTTP {code}")]
    HttpStatus {
        /// The path.
        path: String,
        /// The status.
        code: u16,
    },
    /// The port answered something that is not HTTP.
    #[error("GET {path}: not an HTTP answer ({line:?})")]
    NotHttp {
        /// The path.
        path: String,
        /// The first line of the answer (at most 200 characters).
        line: String,
    },
    /// `podman exec` did not finish in time.
    #[error("podman exec probe: no answer within {0:?}")]
    ExecTimeout(Duration),
    /// `podman exec` could not be run.
    #[error("podman exec probe: {0}")]
    ExecSpawn(Arc<std::io::Error>),
    /// `wget`/`nc` in the container failed.
    #[error("exec probe of port {port}: {status} {stderr}")]
    Exec {
        /// The container port.
        port: u16,
        /// The exit status of `podman exec`.
        status: std::process::ExitStatus,
        /// Its stderr.
        stderr: String,
    },
}

/// The result of a container's last check.
#[derive(Debug, Clone)]
pub enum ProbeOutcome {
    /// It passed.
    Passed(ProbePass),
    /// It failed.
    Failed(ProbeFailure),
}

impl std::fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passed(p) => p.fmt(f),
            Self::Failed(e) => e.fmt(f),
        }
    }
}

/// The latest result of a container's checks.
#[derive(Debug, Clone)]
pub struct HealthState {
    /// Status.
    pub status: HealthStatus,
    /// Failures in a row.
    pub failing_streak: u32,
    /// The last check's result (`None` before the first).
    pub last: Option<ProbeOutcome>,
    /// Checks run.
    pub checks: u64,
}

impl HealthState {
    /// The state before the first check.
    pub fn starting() -> Self {
        Self {
            status: HealthStatus::Starting,
            failing_streak: 0,
            last: None,
            checks: 0,
        }
    }
}

/// What a check probes.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// Container id.
    pub id: String,
    /// Container PID (its network namespace is `/proc/<pid>/ns/net`).
    pub pid: i64,
    /// Published TCP ports: container port -> host port on 127.0.0.1.
    pub published_tcp: BTreeMap<u16, u16>,
}

/// What a probe may use.
#[derive(Debug, Clone)]
pub struct ProbeEnv {
    /// The API (command checks).
    pub podman: Podman,
    /// The host (exec fallback).
    pub host: PodmanHost,
    /// Can we enter a container's network namespace (we are root)?
    pub can_setns: bool,
}

/// Spawn the check loop for one container; `report` gets every new state.
pub fn spawn(
    check: Health,
    target: ProbeTarget,
    env: ProbeEnv,
    report: impl Fn(HealthState) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let interval = check.interval.as_std().max(Duration::from_millis(100));
        let timeout = check.timeout.as_std().max(Duration::from_millis(100));
        let start_period = check.start_period.as_std();
        let retries = check.retries.max(1);
        let slow_start = interval.min(Duration::from_secs(1));
        let mut state = HealthState::starting();
        let mut ever_ok = false;
        loop {
            let result = probe::run(&check, &target, &env, timeout).await;
            state.checks += 1;
            match result {
                Ok(pass) => {
                    ever_ok = true;
                    state.failing_streak = 0;
                    state.status = HealthStatus::Healthy;
                    state.last = Some(ProbeOutcome::Passed(pass));
                }
                Err(failure) => {
                    state.last = Some(ProbeOutcome::Failed(failure));
                    if ever_ok || started.elapsed() >= start_period {
                        state.failing_streak += 1;
                        if state.failing_streak >= retries {
                            state.status = HealthStatus::Unhealthy;
                        }
                    }
                }
            }
            report(state.clone());
            let pause = if ever_ok {
                interval
            } else if started.elapsed() < FAST_PHASE {
                FAST_POLL
            } else {
                slow_start
            };
            tokio::time::sleep(pause).await;
        }
    })
}

//! Health checks, scheduled by the orchestrator itself: podman runs none without systemd
//! (PODMAN-NOTES.md). One task per running container (keyed by container id and PID, so a
//! restart gets a fresh task). Until the first success the check runs on a fast schedule
//! (every 50 ms for the first 5 s, then every min(interval, 1 s)) so a ready app is seen
//! ready at once; after it, every `interval`. Failures during `start_period` before the first success do not count;
//! `retries` failures in a row make the container unhealthy.

pub mod probe;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use atoll_registry::manifest::Health;
use serde::Serialize;

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

/// The latest result of a container's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    /// Status.
    pub status: HealthStatus,
    /// Failures in a row.
    pub failing_streak: u32,
    /// Output of the last check (an error, an HTTP status, or a command's output).
    pub last_output: String,
    /// Checks run.
    pub checks: u64,
}

impl HealthState {
    /// The state before the first check.
    pub fn starting() -> Self {
        Self {
            status: HealthStatus::Starting,
            failing_streak: 0,
            last_output: String::new(),
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
                Ok(output) => {
                    ever_ok = true;
                    state.failing_streak = 0;
                    state.status = HealthStatus::Healthy;
                    state.last_output = output;
                }
                Err(output) => {
                    state.last_output = output;
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

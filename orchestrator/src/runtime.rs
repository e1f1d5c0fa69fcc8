//! The runtime facts table: what the orchestrator knows between passes that podman does
//! not keep: health results, start counts and backoff, failure counters (operations watch
//! them), and the last reconcile error of each app. Shared by the actor, the health tasks
//! and the operations; the reconcile decision reads it as an input.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{PodmanError, ReconcileError};
use crate::health::{HealthState, HealthStatus, ProbeOutcome};
use crate::podman::types::ContainerState;
use crate::procfs::ProcState;

/// Why a container last failed (what `ps` shows as its last failure).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// It exited on its own while wanted running.
    #[error("exited with code {code}")]
    Exited {
        /// Its exit code.
        code: i32,
    },
    /// podman refused to start it.
    #[error("start failed: {0}")]
    StartFailed(#[source] Arc<PodmanError>),
    /// It failed its health checks.
    #[error("unhealthy: {}", last.as_ref().map(ToString::to_string).unwrap_or_default())]
    Unhealthy {
        /// The last check's result.
        last: Option<ProbeOutcome>,
    },
    /// podman said it runs, but its process or its conmon was gone.
    #[error("zombie: {0}")]
    Zombie(Zombie),
}

/// Why a container podman believes runs is a zombie (PODMAN-NOTES.md): only `rm -f` clears it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Zombie {
    /// The process is gone (or a zombie itself) and so is its conmon.
    #[error("podman says {state} but PID {pid} is {process:?} and conmon is gone")]
    ProcessGone {
        /// What podman says.
        state: ContainerState,
        /// The container's PID.
        pid: i64,
        /// What `/proc` says about it.
        process: ProcState,
    },
    /// The process lives but its conmon is gone.
    #[error("conmon of PID {pid} is gone: podman cannot see this container any more")]
    ConmonGone {
        /// The container's PID.
        pid: i64,
    },
}

/// Runtime facts about one container of one app.
#[derive(Debug, Clone)]
pub struct ContainerFacts {
    /// Current container id, if one exists.
    pub id: Option<String>,
    /// Current PID (0 when not running).
    pub pid: i64,
    /// podman's state (`None`: no container exists).
    pub state: Option<ContainerState>,
    /// Exit code of the last run (when not running).
    pub exit_code: Option<i32>,
    /// Does the manifest define a health check?
    pub has_check: bool,
    /// Latest health; belongs to `health_key`.
    pub health: HealthState,
    /// `(id, pid)` the health state belongs to.
    pub health_key: Option<(String, i64)>,
    /// Starts done by this orchestrator (restarts = starts - 1).
    pub starts: u32,
    /// Starts in the current backoff streak.
    pub streak: u32,
    /// No start before this instant.
    pub not_before: Option<Instant>,
    /// When it was last started by us.
    pub last_start: Option<Instant>,
    /// Times it exited on its own or failed to start while wanted running (monotonic).
    pub failures: u64,
    /// Times it became unhealthy (monotonic).
    pub unhealthy: u64,
    /// Start failures in a row (a container that keeps failing to start is recreated).
    pub start_failures: u32,
    /// The last failure.
    pub last_failure: Option<Failure>,
    /// We started it (or saw it running) and did not stop it: an exit now is a failure.
    pub seen_running: bool,
}

impl Default for ContainerFacts {
    fn default() -> Self {
        Self {
            id: None,
            pid: 0,
            state: None,
            exit_code: None,
            has_check: false,
            health: HealthState::starting(),
            health_key: None,
            starts: 0,
            streak: 0,
            not_before: None,
            last_start: None,
            failures: 0,
            unhealthy: 0,
            start_failures: 0,
            last_failure: None,
            seen_running: false,
        }
    }
}

impl ContainerFacts {
    /// Running, and healthy if it has a check (for the current process).
    pub fn ready(&self) -> bool {
        let running = self.state == Some(ContainerState::Running) && self.id.is_some();
        if !running {
            return false;
        }
        if !self.has_check {
            return true;
        }
        let current = self
            .id
            .as_ref()
            .map(|id| (id.clone(), self.pid))
            .is_some_and(|k| self.health_key.as_ref() == Some(&k));
        current && self.health.status == HealthStatus::Healthy
    }

    /// The health to show.
    pub fn health_status(&self) -> HealthStatus {
        if !self.has_check {
            return HealthStatus::None;
        }
        let current = self
            .id
            .as_ref()
            .map(|id| (id.clone(), self.pid))
            .is_some_and(|k| self.health_key.as_ref() == Some(&k));
        if current && self.state == Some(ContainerState::Running) {
            self.health.status
        } else {
            HealthStatus::Starting
        }
    }
}

/// The runtime facts table.
#[derive(Debug, Default)]
pub struct RuntimeFacts {
    /// By (app, manifest container name).
    pub containers: HashMap<(String, String), ContainerFacts>,
    /// Last reconcile error per app (cleared by a clean pass; a failed pass sets it for
    /// every app). [`ReconcileError::is_permanent`] says whether retrying can help.
    pub app_errors: HashMap<String, Arc<ReconcileError>>,
    /// Passes run.
    pub passes: u64,
}

impl RuntimeFacts {
    /// The entry of a container, created if missing.
    pub fn entry(&mut self, app: &str, container: &str) -> &mut ContainerFacts {
        self.containers
            .entry((app.to_owned(), container.to_owned()))
            .or_default()
    }

    /// A container's entry, if any.
    pub fn get(&self, app: &str, container: &str) -> Option<&ContainerFacts> {
        self.containers.get(&(app.to_owned(), container.to_owned()))
    }

    /// Forget an app.
    pub fn forget(&mut self, app: &str) {
        self.containers.retain(|(a, _), _| a != app);
        self.app_errors.remove(app);
    }
}

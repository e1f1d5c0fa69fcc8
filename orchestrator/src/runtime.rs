//! What the orchestrator knows between passes that podman does not keep: health results,
//! start counts and backoff, failure counters (operations watch them), and the last
//! reconcile error of each app. Shared by the actor, the health tasks and the operations.

use std::collections::HashMap;
use std::time::Instant;

use crate::health::{HealthState, HealthStatus};

/// Runtime facts about one container of one app.
#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    /// Current container id, if one exists.
    pub id: Option<String>,
    /// Current PID (0 when not running).
    pub pid: i64,
    /// podman's state.
    pub state: String,
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
    /// The last failure, for people.
    pub last_failure: Option<String>,
    /// We started it (or saw it running) and did not stop it: an exit now is a failure.
    pub seen_running: bool,
}

impl Default for ContainerRuntime {
    fn default() -> Self {
        Self {
            id: None,
            pid: 0,
            state: String::new(),
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

impl ContainerRuntime {
    /// Running, and healthy if it has a check (for the current process).
    pub fn ready(&self) -> bool {
        let running = self.state == "running" && self.id.is_some();
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
        if current && self.state == "running" {
            self.health.status
        } else {
            HealthStatus::Starting
        }
    }
}

/// The last reconcile error of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// The message.
    pub message: String,
    /// Retrying will not help (name conflict, bad data dir, hash mismatch).
    pub permanent: bool,
}

/// The whole table.
#[derive(Debug, Default)]
pub struct Runtime {
    /// By (app, manifest container name).
    pub containers: HashMap<(String, String), ContainerRuntime>,
    /// Last reconcile error per app (cleared by a clean pass).
    pub app_errors: HashMap<String, AppError>,
    /// Passes run.
    pub passes: u64,
}

impl Runtime {
    /// The entry of a container, created if missing.
    pub fn entry(&mut self, app: &str, container: &str) -> &mut ContainerRuntime {
        self.containers
            .entry((app.to_owned(), container.to_owned()))
            .or_default()
    }

    /// A container's entry, if any.
    pub fn get(&self, app: &str, container: &str) -> Option<&ContainerRuntime> {
        self.containers.get(&(app.to_owned(), container.to_owned()))
    }

    /// Forget an app.
    pub fn forget(&mut self, app: &str) {
        self.containers.retain(|(a, _), _| a != app);
        self.app_errors.remove(app);
    }
}

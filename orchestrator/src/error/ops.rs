//! Errors of the operations (install, update, uninstall, start/stop/restart, ps/logs,
//! starting the orchestrator) and of waiting for an app to converge.

use std::sync::Arc;
use std::time::Duration;

use super::{
    DataError, HostError, ImageError, ReconcileError, ReleaseError, ServiceError, StoreError,
};
use crate::error::PodmanError;
use crate::health::{HealthStatus, ProbeOutcome};
use crate::podman::types::ContainerState;
use crate::runtime::Failure;

/// Why an app did not reach the state an operation waits for.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// A container failed its health checks.
    #[error("container {container:?} is unhealthy: {}", last.as_ref().map(ToString::to_string).unwrap_or_default())]
    Unhealthy {
        /// The container.
        container: String,
        /// The last check's result.
        last: Option<ProbeOutcome>,
    },
    /// A container keeps exiting or failing to start.
    #[error("container {container:?} keeps failing: {reason}")]
    Failing {
        /// The container.
        container: String,
        /// The last failure.
        reason: Failure,
    },
    /// The reconcile loop cannot bring the app there: its last error, which retrying will
    /// not fix (a name conflict, an unusable data dir, a bad image), or (uninstall) the
    /// error of the pass that was to remove it.
    #[error("{error}")]
    Blocked {
        /// The reconcile error.
        error: Arc<ReconcileError>,
    },
    /// The deadline passed.
    #[error("{app:?} did not become {target} within {waited:?} ({state})")]
    Timeout {
        /// The app.
        app: String,
        /// `ready`, `stopped` or `removed`.
        target: &'static str,
        /// The deadline.
        waited: Duration,
        /// What it looked like at the end.
        state: Pending,
    },
    /// The app's record disappeared while waiting.
    #[error("{app:?} is no longer installed")]
    Gone {
        /// The app.
        app: String,
    },
    /// The orchestrator was shut down.
    #[error("the orchestrator was shut down")]
    Closed,
}

/// What was not done yet when a wait ended (shown as `a: …; b: …`).
#[derive(Debug, Clone, Default)]
pub struct Pending(pub Vec<Unfinished>);

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, u) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{u}")?;
        }
        Ok(())
    }
}

/// One thing a wait was still waiting for.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Unfinished {
    /// Desired state could not be read.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The container was never created.
    #[error("{0}: not created")]
    NotCreated(String),
    /// The container is not ready yet.
    #[error("{container}: {} ({health:?}{})", state.as_ref().map_or("missing", ContainerState::as_str), last_failure.as_ref().map(|f| format!(", last failure: {f}")).unwrap_or_default())]
    NotReady {
        /// The container.
        container: String,
        /// podman's state (`None`: no container).
        state: Option<ContainerState>,
        /// Its health.
        health: HealthStatus,
        /// Its last failure.
        last_failure: Option<Failure>,
    },
    /// The container still runs.
    #[error("{0}: still running")]
    StillRunning(String),
    /// The container is not removed yet.
    #[error("{0}: not removed yet")]
    NotRemoved(String),
    /// The app's last reconcile error.
    #[error("last error: {0}")]
    LastError(Arc<ReconcileError>),
}

/// `install` failed. Nothing is left behind except loaded images and the app's data dir.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The install name is not a DNS label.
    #[error("{0:?} is not a valid install name: use 1-63 of a-z, 0-9 and '-'")]
    InvalidName(String),
    /// An app of that name is installed already.
    #[error("{0:?} is already installed (use update)")]
    AlreadyInstalled(String),
    /// A dependency whose network the app should join is not installed.
    #[error("{app:?} depends on {dependency:?}, which is not installed: install it first")]
    MissingLink {
        /// The app being installed.
        app: String,
        /// The install name of the dependency.
        dependency: String,
    },
    /// A host port is used by another installed app.
    #[error(
        "host port {port} is already used by installed app {app:?}: install with another \
         host port for container port {container} (CLI --port <free port>={container}, the \
         port field on the app's page, API \"ports\": {{\"{container}\": <free port>}})"
    )]
    PortTaken {
        /// The port.
        port: u16,
        /// The container port published on it.
        container: u16,
        /// The app that has it.
        app: String,
    },
    /// A host port is in use on 127.0.0.1 by something else.
    #[error(
        "host port {port} is in use on 127.0.0.1: install with another host port for \
         container port {container} (CLI --port <free port>={container}, the port field on \
         the app's page, API \"ports\": {{\"{container}\": <free port>}})"
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// The container port published on it.
        container: u16,
    },
    /// The release is inconsistent.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// A setting value is unknown, missing or out of bounds (nothing was changed).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// An image could not be verified or loaded.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Volumes or secrets could not be prepared.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The podman service could not be reached.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The app did not become ready; it was removed again (data kept).
    #[error("install of {app:?} failed and was undone: {reason}")]
    NotReady {
        /// The app.
        app: String,
        /// Why.
        reason: WaitError,
    },
}

/// `update` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// No app of that name is installed.
    #[error("{0:?} is not installed")]
    NotInstalled(String),
    /// The offered version is not newer than the installed one.
    #[error("{app:?} runs {current}; {offered} is not newer")]
    NotNewer {
        /// The app.
        app: String,
        /// Installed version.
        current: semver::Version,
        /// Offered version.
        offered: semver::Version,
    },
    /// The app is being removed.
    #[error("{0:?} is being uninstalled")]
    Removing(String),
    /// The new release publishes a host port another installed app uses.
    #[error("host port {port} is already used by installed app {app:?}")]
    PortTaken {
        /// The port.
        port: u16,
        /// The app that has it.
        app: String,
    },
    /// The release is inconsistent.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// A setting value is unknown, missing or out of bounds (nothing was changed).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// A new image could not be verified or loaded (nothing was changed).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Volumes or secrets could not be prepared.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The podman service could not be reached.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The new version failed; the previous one runs again, data intact.
    #[error("update of {app:?} to {failed} failed ({reason}); rolled back to {restored} with the data from before the update")]
    RolledBack {
        /// The app.
        app: String,
        /// The version that failed.
        failed: semver::Version,
        /// The version running again.
        restored: semver::Version,
        /// Why the new version failed.
        reason: WaitError,
    },
    /// The backup before the update failed: nothing was changed.
    #[error(
        "update of {app:?} refused: the backup of its data before the update failed: {source}"
    )]
    Backup {
        /// The app.
        app: String,
        /// Why the backup failed.
        source: Box<super::BackupError>,
    },
    /// The new version failed and the pre-update backup could not be put back: the app is
    /// left stopped at its previous version (restore the backup by hand).
    #[error("update of {app:?} to {failed} failed ({reason}); rolled back, but the data could not be restored from backup {backup} ({error}): the app is left stopped, restore that backup and start it")]
    DataNotRestored {
        /// The app.
        app: String,
        /// The version that failed.
        failed: semver::Version,
        /// Why it failed.
        reason: WaitError,
        /// The pre-update backup.
        backup: String,
        /// Why it could not be restored.
        error: Box<super::BackupError>,
    },
    /// The new version failed and so did the previous one after the rollback.
    #[error("update of {app:?} failed ({reason}) and the rollback did not become ready either ({rollback})")]
    RollbackFailed {
        /// The app.
        app: String,
        /// Why the new version failed.
        reason: WaitError,
        /// Why the restored version is not ready.
        rollback: WaitError,
    },
}

/// `uninstall` failed. The app stays listed (as being removed) until everything is gone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UninstallError {
    /// No app of that name is installed.
    #[error("{0:?} is not installed")]
    NotInstalled(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Some containers or networks could not be removed yet; retried by the reconcile loop.
    #[error("uninstall of {app:?} is incomplete: {reason}")]
    Incomplete {
        /// The app.
        app: String,
        /// Why.
        reason: WaitError,
    },
}

/// `start`, `stop` or `restart` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No app of that name is installed.
    #[error("{0:?} is not installed")]
    NotInstalled(String),
    /// The app is being removed.
    #[error("{0:?} is being uninstalled")]
    Removing(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The app did not reach the wanted state.
    #[error("{app:?}: {reason}")]
    NotReached {
        /// The app.
        app: String,
        /// Why.
        reason: WaitError,
    },
}

/// `ps` or `logs` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No app of that name is installed.
    #[error("{0:?} is not installed")]
    NotInstalled(String),
    /// The app has no such container, or it does not exist right now.
    #[error("{app:?} has no container {container:?} right now")]
    NoContainer {
        /// The app.
        app: String,
        /// The container.
        container: String,
    },
    /// The app's manifest names no such container.
    #[error("{app:?} has no container {container:?} (its containers: {})", known.join(", "))]
    UnknownContainer {
        /// The app.
        app: String,
        /// The container asked for.
        container: String,
        /// The containers its manifest names.
        known: Vec<String>,
    },
    /// Reading the app's files (secrets, volume sizes) failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// podman failed.
    #[error(transparent)]
    Podman(#[from] PodmanError),
    /// The podman service could not be reached.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The orchestrator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The host is not usable.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The data dir is not usable.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The podman service could not be reached or started.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The node id is not usable as a label value.
    #[error("node id {0:?} must be 1-63 of a-z, 0-9 and '-'")]
    NodeId(String),
}

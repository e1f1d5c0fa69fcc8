//! Errors of backups: making, storing, restoring, exporting and importing them.

use std::path::PathBuf;

use super::{StoreError, WaitError};

/// A backup operation failed. Whatever failed, earlier backups and the app's data are as
/// they were: a backup is listed only once all of it is stored, and a restore replaces the
/// data only once the backup's copy is complete beside it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// No app of that name is installed.
    #[error("{0:?} is not installed")]
    NotInstalled(String),
    /// The app is being removed.
    #[error("{0:?} is being uninstalled")]
    Removing(String),
    /// No backup with that id.
    #[error("no backup {0:?} on this node")]
    NotFound(String),
    /// A restore onto an app that runs.
    #[error("{app:?} is running: stop it first (atoll stop); a restore never replaces the data of a running app")]
    Running {
        /// The app.
        app: String,
    },
    /// A backup of one app restored onto another.
    #[error("backup {id} is of app {of:?}, not {app:?}")]
    WrongApp {
        /// The backup.
        id: String,
        /// Its app.
        of: String,
        /// The app asked for.
        app: String,
    },
    /// The disk holding the backups filled up.
    #[error("no space left on the device of {} while storing the backup; nothing of it was kept and earlier backups are intact", path.display())]
    NoSpace {
        /// What was being written.
        path: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `podman unshare tar` (which reads and writes the volumes as the container users)
    /// failed.
    #[error("{what} failed: {detail}")]
    Tool {
        /// What ran.
        what: String,
        /// Its exit status and error output.
        detail: String,
    },
    /// A container's `backup.command` failed or timed out.
    #[error("backup command of container {container:?} failed: {reason}")]
    Hook {
        /// The container.
        container: String,
        /// Why.
        reason: String,
    },
    /// A stored record or an imported file is not a valid backup.
    #[error("{what}: {reason}")]
    Invalid {
        /// Which record, entry or archive member.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The app did not stop for the snapshot or did not start again after it.
    #[error("{app:?} did not {what}: {reason}")]
    NotReached {
        /// The app.
        app: String,
        /// `stop for the snapshot` or `start again`.
        what: &'static str,
        /// Why.
        reason: WaitError,
    },
    /// The desired-state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    /// An I/O error, as [`BackupError::NoSpace`] when the disk is full.
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(28) || source.kind() == std::io::ErrorKind::StorageFull {
            return Self::NoSpace {
                path: path.to_owned(),
            };
        }
        Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// Was it the full disk?
    pub fn is_no_space(&self) -> bool {
        matches!(self, Self::NoSpace { .. })
    }
}

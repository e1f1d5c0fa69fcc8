//! Typed errors: one enum per layer (podman API, service, images, data, store) and one per
//! operation (install, update, uninstall, control, query). Every enum is `#[non_exhaustive]`.

use std::path::PathBuf;
use std::time::Duration;

use atoll_registry::Hash;

/// Talking to the libpod REST API (or, as a fallback, the podman CLI) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PodmanError {
    /// The API socket does not accept connections (the service is down or starting).
    #[error("cannot connect to the podman API at {}: {source}", socket.display())]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP exchange broke off.
    #[error("HTTP error on {method} {path}: {source}")]
    Http {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// The transport error.
        source: hyper::Error,
    },
    /// The API answered with an error status.
    #[error("podman {method} {path} answered {status}: {message}")]
    Api {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// podman's own message.
        message: String,
    },
    /// No answer in time.
    #[error("podman {method} {path} did not answer within {after:?}")]
    Timeout {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// The deadline.
        after: Duration,
    },
    /// The answer was not the JSON expected.
    #[error("cannot decode podman's answer to {what}: {source}")]
    Decode {
        /// What was asked.
        what: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A local file (an image archive being uploaded) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A request path could not be formed (a name with characters a URI cannot hold).
    #[error("invalid request path {path:?}")]
    BadPath {
        /// The path.
        path: String,
    },
    /// The podman CLI (fallback path) could not be run or failed.
    #[error("podman {args}: {message}")]
    Cli {
        /// The arguments.
        args: String,
        /// What went wrong (exit status and stderr, or the spawn error).
        message: String,
    },
}

impl PodmanError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The object does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The service is unreachable or broke off: worth ensuring the service and retrying.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Http { .. } | Self::Timeout { .. }
        )
    }
}

/// The podman user, its runtime dir or the data dir are not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The rootless user does not exist.
    #[error("the podman user {user:?} does not exist (run scripts/setup-host.sh as root)")]
    UserNotFound {
        /// The user name.
        user: String,
    },
    /// The user's runtime dir is missing (there is no logind to create it).
    #[error("{} is missing (run scripts/setup-host.sh as root: there is no logind to create it)", path.display())]
    RuntimeDirMissing {
        /// The runtime dir.
        path: PathBuf,
    },
    /// Running podman as another user needs root.
    #[error("running podman as {user:?} needs root (or run atoll as {user:?} itself)")]
    NeedRoot {
        /// The user name.
        user: String,
    },
    /// A system file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The `podman system service` could not be started or reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The host is not usable.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The service process could not be started.
    #[error("cannot start `podman system service`: {source}")]
    Spawn {
        /// The OS error.
        source: std::io::Error,
    },
    /// The service exited right after starting.
    #[error("`podman system service` exited ({status}): {stderr}")]
    Exited {
        /// Exit status.
        status: String,
        /// Its last stderr lines.
        stderr: String,
    },
    /// The socket did not answer in time.
    #[error("the podman API at {} did not answer within {waited:?}", socket.display())]
    NotReady {
        /// The socket.
        socket: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// Preparing the socket directory failed.
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// An image could not be made available.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The archive could not be read.
    #[error("cannot read image archive {}: {source}", path.display())]
    Io {
        /// The archive.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The archive's bytes are not the ones the signed entry names: never loaded.
    #[error("image archive {} has BLAKE3 {actual}, but the signed entry says {expected}: refusing to load it", path.display())]
    HashMismatch {
        /// The archive.
        path: PathBuf,
        /// The hash from the signed entry.
        expected: Hash,
        /// The hash of the bytes on disk.
        actual: Hash,
    },
    /// No expected hash was given for an archive.
    #[error("no expected BLAKE3 hash for image archive {archive:?}: refusing to load an unverified archive")]
    Unverified {
        /// The archive path from the manifest.
        archive: String,
    },
    /// The archive is not an OCI layout or docker archive we understand.
    #[error("{} is not a usable image archive: {reason}", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The archive path escapes the app's artifact dir.
    #[error("image archive path {archive:?} escapes the app dir")]
    BadPath {
        /// The path from the manifest.
        archive: String,
    },
    /// podman refused the image.
    #[error("podman could not load/pull {what}: {source}")]
    Podman {
        /// The archive or reference.
        what: String,
        /// The API error.
        source: PodmanError,
    },
    /// After loading, the image id is not the one the archive declares.
    #[error("loaded {what} but podman has no image {image_id}")]
    Missing {
        /// The archive or reference.
        what: String,
        /// The expected image id.
        image_id: String,
    },
    /// The container names neither an archive nor a reference.
    #[error("container {container:?} names no image")]
    NoSource {
        /// The container.
        container: String,
    },
}

/// Files under the data dir (volumes, secrets) could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
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
    /// The podman user cannot reach the data dir (bind mounts would fail).
    #[error("{} is not traversable by the podman user (uid {uid}): give it o+x (e.g. chmod 0711)", path.display())]
    NotTraversable {
        /// The directory.
        path: PathBuf,
        /// The podman user's uid.
        uid: u32,
    },
    /// A container user cannot be mapped to a host uid.
    #[error("container user {user:?} cannot be mapped: {reason}")]
    User {
        /// The `uid[:gid]` from the manifest.
        user: String,
        /// Why.
        reason: &'static str,
    },
    /// A secret file exists but is unusable.
    #[error("secret file {} is empty or not text: delete it to generate a new one", path.display())]
    BadSecret {
        /// The file.
        path: PathBuf,
    },
}

/// The desired-state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("desired-state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored record could not be encoded or decoded.
    #[error("desired-state record for {name:?}: {source}")]
    Record {
        /// The app.
        name: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The database file could not be prepared.
    #[error("desired-state database {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store's lock was poisoned by a panic.
    #[error("desired-state store lock poisoned")]
    Poisoned,
}

/// One reconcile step for one app failed (recorded as the app's `last_error`, retried on the
/// next pass).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// The API failed.
    #[error(transparent)]
    Podman(#[from] PodmanError),
    /// The service could not be reached.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Volumes or secrets could not be prepared.
    #[error(transparent)]
    Data(#[from] DataError),
    /// An image is missing and could not be loaded again.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A container or network with our name exists but is not ours: we never touch it.
    #[error("{kind} {name:?} exists but is not managed by this atoll node: remove or rename it")]
    NameConflict {
        /// `container` or `network`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The container could not be stopped or removed.
    #[error("container {name:?} could not be removed: {reason}")]
    Stuck {
        /// The container name.
        name: String,
        /// The last error.
        reason: String,
    },
}

/// Why an app did not reach the state an operation waits for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// A container failed its health checks.
    #[error("container {container:?} is unhealthy: {last}")]
    Unhealthy {
        /// The container.
        container: String,
        /// The last check's output.
        last: String,
    },
    /// A container keeps exiting or failing to start.
    #[error("container {container:?} keeps failing: {reason}")]
    Failing {
        /// The container.
        container: String,
        /// The last failure.
        reason: String,
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
        state: String,
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

/// `install` failed. Nothing is left behind except loaded images and the app's data dir.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The install name is not a DNS label.
    #[error("{0:?} is not a valid install name: use 1-40 of a-z, 0-9 and '-'")]
    InvalidName(String),
    /// An app of that name is installed already.
    #[error("{0:?} is already installed (use update)")]
    AlreadyInstalled(String),
    /// A host port is used by another installed app.
    #[error("host port {port} is already used by installed app {app:?}")]
    PortTaken {
        /// The port.
        port: u16,
        /// The app that has it.
        app: String,
    },
    /// A host port is in use on 127.0.0.1 by something else.
    #[error("host port {port} is in use on 127.0.0.1: choose another with a port override")]
    PortInUse {
        /// The port.
        port: u16,
    },
    /// The release is inconsistent.
    #[error(transparent)]
    Release(#[from] ReleaseError),
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

/// A release (manifest + artifacts) is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The manifest could not be loaded or hashed.
    #[error(transparent)]
    Manifest(#[from] atoll_registry::ManifestError),
    /// The manifest is not the one the signed entry names.
    #[error("the manifest hashes to {actual}, but the signed entry names {expected}")]
    ManifestMismatch {
        /// The hash in the entry.
        expected: Hash,
        /// The manifest's hash.
        actual: Hash,
    },
    /// An artifact could not be read to hash it.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The artifact.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Two published ports of the release map to the same host port.
    #[error("host port {0} is published twice")]
    DuplicatePort(u16),
    /// A container's dependency does not exist or the dependencies form a cycle.
    #[error("container dependencies are broken: {0}")]
    Dependencies(String),
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
    /// The release is inconsistent.
    #[error(transparent)]
    Release(#[from] ReleaseError),
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
    #[error("update of {app:?} to {failed} failed ({reason}); rolled back to {restored}")]
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

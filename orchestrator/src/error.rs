//! Typed errors: one enum per layer (podman API, service, images, data, store, reconcile)
//! here, and one per operation (in `error/ops.rs`). Every enum is `#[non_exhaustive]`.

mod backup;
mod ops;

pub use backup::BackupError;
pub use ops::{
    ControlError, InstallError, Pending, QueryError, StartError, Unfinished, UninstallError,
    UpdateError, WaitError,
};

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
        method: hyper::Method,
        /// Request path.
        path: String,
        /// The transport error.
        source: hyper::Error,
    },
    /// The API answered with an error status.
    #[error("podman {method} {path} answered {status}: {message}")]
    Api {
        /// Request method.
        method: hyper::Method,
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
        method: hyper::Method,
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
    /// An image pull answered without naming the image it pulled.
    #[error("podman POST {path} answered 200: pull reported no image id")]
    NoImageId {
        /// Request path.
        path: String,
    },
    /// The podman CLI (fallback path) could not be run.
    #[error("podman {args}: {source}")]
    CliSpawn {
        /// The arguments.
        args: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The podman CLI (fallback path) failed.
    #[error("podman {args}: {status}: {stderr}")]
    CliFailed {
        /// The arguments.
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// podman's stderr.
        stderr: String,
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
        status: std::process::ExitStatus,
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
    /// The archive's image is built for another CPU architecture than this host's.
    #[error("archive {archive} is built for {built}; this host runs {host}")]
    Architecture {
        /// The archive's path in the manifest.
        archive: String,
        /// The image's architecture.
        built: String,
        /// The host's.
        host: &'static str,
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
    /// A config file template could not be filled.
    #[error("file {path} of container {container:?}: {reason}")]
    Template {
        /// The container.
        container: String,
        /// The file's path in the container.
        path: String,
        /// Why.
        reason: atoll_registry::manifest::template::RenderError,
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
    /// The store behind the trait failed (for the node: the catalog file).
    #[error("desired-state store: {source}")]
    Backend {
        /// The store's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A stored record could not be encoded or decoded.
    #[error("desired-state record for {name:?}: {source}")]
    Record {
        /// The app.
        name: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The store's lock was poisoned by a panic.
    #[error("desired-state store lock poisoned")]
    Poisoned,
}

impl StoreError {
    /// Wrap a store implementation's own error.
    pub fn backend(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend {
            source: Box::new(source),
        }
    }
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
    /// A dependency's network is not there (yet): the dependent's containers are created
    /// once the dependency's reconcile made it again.
    #[error("the network {network:?} of {dependency:?}, which this app depends on, does not exist yet; waiting for it")]
    DependencyNetwork {
        /// The dependency's install name.
        dependency: String,
        /// Its network.
        network: String,
    },
    /// A container or network with our name exists but is not ours: we never touch it.
    #[error("{kind} {name:?} exists but is not managed by this atoll node: remove or rename it")]
    NameConflict {
        /// `container` or `network`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The container could not be removed (`rm -f` failed twice).
    #[error("container {name:?} could not be removed: {source}")]
    Stuck {
        /// The container name.
        name: String,
        /// The second attempt's error.
        source: PodmanError,
    },
    /// After removing everything of an app being uninstalled, a container is still listed.
    #[error("container {name:?} could not be removed: still listed after removal")]
    StillListed {
        /// The container name.
        name: String,
    },
    /// podman refused to start a container (counted for backoff; retried).
    #[error("{source}")]
    StartFailed {
        /// The manifest container.
        container: String,
        /// podman's answer.
        source: std::sync::Arc<PodmanError>,
    },
    /// The record has no image id for a container (its images were never loaded).
    #[error("container {container:?} cannot be created: no image id recorded for it")]
    NoImage {
        /// The manifest container.
        container: String,
    },
}

impl ReconcileError {
    /// Retrying will not fix it (a name conflict, an unusable data dir, a bad image).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::NameConflict { .. } | Self::Data(_) | Self::Image(_)
        )
    }

    /// The podman service could not be reached: the rest of the pass would fail too.
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Podman(p) if p.is_transport())
    }
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
    /// A container depends on a container the manifest does not have.
    #[error(
        "container dependencies are broken: {container} depends on unknown container {dependency}"
    )]
    UnknownDependency {
        /// The container.
        container: String,
        /// The name it depends on.
        dependency: String,
    },
    /// The dependencies form a cycle.
    #[error("container dependencies are broken: cycle through {container}")]
    DependencyCycle {
        /// A container on the cycle.
        container: String,
    },
}

//! Errors: [`OpenError`] for opening a store, [`CatalogError`] for everything done with it.

use std::path::PathBuf;

use atoll_registry::{AppRef, Did, Hash};

/// Why a catalog file could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The directory or file could not be accessed.
    #[error("cannot open the catalog at {path}: {source}")]
    Io {
        /// The catalog file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file exists but is not an SQLite database (or its header is damaged).
    #[error("{path} is not an atoll catalog: the file is not an SQLite database (or its header is damaged); move it away or pass another path")]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The file is an SQLite database of some other program.
    #[error("{path} is an SQLite database of another program (application_id {application_id:#x}, user_version {user_version}, {objects} schema objects); refusing to touch it")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Its `application_id` (atoll's is [`crate::schema::APPLICATION_ID`]).
        application_id: i64,
        /// Its `user_version`.
        user_version: i64,
        /// Tables, indexes and others already in it.
        objects: i64,
    },
    /// The catalog was written by a newer atoll.
    #[error("{path} has catalog schema version {found}, newer than this atoll supports ({supported}); upgrade atoll")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Schema version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The database is damaged.
    #[error("the catalog at {path} is damaged: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// A schema migration failed; the file was left at its previous version.
    #[error("migrating the catalog at {path} to schema version {version} failed: {source}")]
    Migration {
        /// The file.
        path: PathBuf,
        /// The version being applied.
        version: i64,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// Any other SQLite error while opening.
    #[error("cannot open the catalog at {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The database is damaged (SQLite reported corruption; SQLite's own words).
    #[error("the catalog is damaged: {0}")]
    Corrupt(String),
    /// Another process held the write lock for longer than the busy timeout.
    #[error("the catalog is locked by another writer; try again")]
    Busy,
    /// The named app, publisher or blob is not in the catalog.
    #[error("not in the catalog: {0}")]
    NotFound(Box<Missing>),
    /// A manifest does not match any entry, or disagrees with the entry that names it.
    #[error("manifest rejected: {0}")]
    Manifest(Box<ManifestRejected>),
    /// Stored data that cannot be decoded (written by a broken or foreign program).
    #[error("stored data is invalid: {what}: {source}")]
    Decode {
        /// Which stored value.
        what: Stored,
        /// Why it does not decode.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store's invariants do not hold (see [`crate::Catalog::check`]).
    #[error("the catalog is inconsistent: {0}")]
    Inconsistent(Inconsistency),
    /// A trust decision's note is too long or not one line.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A relay URL the operator gave is not one.
    #[error("relay {url:?}: {problem}")]
    RelayUrl {
        /// The URL (clipped to 100 characters).
        url: String,
        /// What is wrong with it.
        problem: atoll_registry::relay_url::RelayUrlError,
    },
    /// More relay choices than the catalog keeps.
    #[error("at most {max} relays may be added or disabled; remove one first")]
    TooManyRelays {
        /// [`crate::relays::MAX_RELAY_CHOICES`].
        max: usize,
    },
    /// A value could not be encoded canonically (RFC 8785).
    #[error(transparent)]
    Canonical(#[from] atoll_registry::canonical::CanonicalError),
    /// The [`crate::CatalogService`]'s writer thread has stopped (a request panicked, or
    /// the runtime is shutting down): the request was not run, or its batch was never
    /// committed.
    #[error("the catalog service has stopped; the request was not stored")]
    ServiceStopped,
    /// The write batch this request was part of could not be begun or committed, so
    /// nothing of it was stored (the request itself had succeeded).
    #[error("the catalog could not commit the write batch: {source}")]
    BatchFailed {
        /// SQLite's error, shared by every request of the batch.
        #[source]
        source: std::sync::Arc<rusqlite::Error>,
    },
    /// Any other SQLite error.
    #[error("catalog database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl CatalogError {
    /// A stored value that does not decode.
    pub(crate) fn decode(
        what: Stored,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Decode {
            what,
            source: Box::new(source),
        }
    }
}

/// What [`CatalogError::NotFound`] did not find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Missing {
    /// No stored entry names this blob.
    #[error("blob {0}")]
    Blob(Hash),
    /// The DID was never seen.
    #[error("{0}: this node has never seen that DID")]
    Publisher(Did),
    /// The app is not in the catalog.
    #[error("app {0}")]
    App(AppRef),
    /// No stored entry of the app has this version and manifest.
    #[error("{app} {version} with manifest {manifest}")]
    Entry {
        /// The app.
        app: AppRef,
        /// The version asked for.
        version: semver::Version,
        /// The manifest asked for.
        manifest: Hash,
    },
}

/// Why [`crate::Catalog::attach_manifest`] refused a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestRejected {
    /// It breaks the rootless policy (the first violation found).
    #[error("{app} violates the rootless policy at {}: {}", violation.field, violation.rule)]
    Policy {
        /// The manifest's app id.
        app: String,
        /// The broken rule.
        violation: atoll_registry::manifest::policy::Violation,
    },
    /// No stored entry names its hash.
    #[error("no entry in the catalog names manifest {0}")]
    Unnamed(Hash),
    /// An entry naming its hash is of another app, version or size.
    #[error("manifest {hash} is {app} {version} ({size} bytes), but an entry naming it is {entry_app} {entry_version} ({entry_size} bytes)")]
    Disagrees {
        /// The manifest's hash.
        hash: Hash,
        /// The manifest's app id.
        app: String,
        /// The manifest's version.
        version: String,
        /// Its canonical size.
        size: usize,
        /// The entry's app id.
        entry_app: String,
        /// The entry's version.
        entry_version: String,
        /// The size the entry names.
        entry_size: i64,
    },
}

/// Which stored value failed to decode ([`CatalogError::Decode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Stored {
    /// A publisher's DID.
    #[error("a stored DID")]
    Did,
    /// An attached manifest's body.
    #[error("the stored manifest {0}")]
    Manifest(Hash),
    /// A rotation's stored `last` or `voided` (JSON).
    #[error("a stored key rotation")]
    Rotation,
    /// A field of the desired state of an installed app.
    #[error("installed app {app:?}: {field}")]
    Installed {
        /// The app (as stored).
        app: String,
        /// The field.
        field: &'static str,
    },
}

/// A broken invariant found by [`crate::Catalog::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Inconsistency {
    /// Rows that break a declared foreign key.
    #[error("{0} rows break a foreign key")]
    ForeignKeys(i64),
    /// Rows that break one of the catalog's own invariants.
    #[error("{count} {what}")]
    Invariant {
        /// How many.
        count: i64,
        /// The invariant, as rows that break it.
        what: &'static str,
    },
    /// More audit rows than the cap.
    #[error("{rows} audit rows, more than the cap of {cap}")]
    AuditOverCap {
        /// Rows found.
        rows: i64,
        /// [`crate::audit::MAX_AUDIT_ROWS`].
        cap: i64,
    },
}

/// Why a trust decision's note is refused (see [`crate::trust::check_note`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// Longer than [`crate::trust::MAX_NOTE_BYTES`].
    #[error("note: {len} bytes, at most {max} are kept")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Holds a control character other than tab (newline, escape).
    #[error("note: control characters (newlines, escapes) are not allowed")]
    ControlCharacter,
}

impl From<rusqlite::Error> for CatalogError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Self::Corrupt(e.to_string())
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy,
            _ => Self::Sqlite(e),
        }
    }
}

//! Errors: [`OpenError`] for opening a store, [`CatalogError`] for everything done with it.

use std::path::PathBuf;

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
    #[error("{path} is an SQLite database of another program ({detail}); refusing to touch it")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        detail: String,
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
    /// The database is damaged (SQLite reported corruption).
    #[error("the catalog is damaged: {0}")]
    Corrupt(String),
    /// Another process held the write lock for longer than the busy timeout.
    #[error("the catalog is locked by another writer; try again")]
    Busy,
    /// The named app, publisher or blob is not in the catalog.
    #[error("not in the catalog: {0}")]
    NotFound(String),
    /// A manifest does not match any entry, or disagrees with the entry that names it.
    #[error("manifest rejected: {0}")]
    Manifest(String),
    /// Stored data that cannot be decoded (written by a broken or foreign program).
    #[error("stored data is invalid: {0}")]
    Decode(String),
    /// The store's invariants do not hold (see [`crate::Catalog::check`]).
    #[error("the catalog is inconsistent: {0}")]
    Inconsistent(String),
    /// A value could not be encoded canonically (RFC 8785).
    #[error(transparent)]
    Canonical(#[from] atoll_registry::canonical::CanonicalError),
    /// The [`crate::CatalogService`]'s writer thread has stopped (it panicked, or the
    /// service is shutting down): the request was not run, or its result is unknown
    /// because the batch it was in was never committed.
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

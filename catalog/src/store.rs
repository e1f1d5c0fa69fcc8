//! Opening a catalog file: header and identity checks, pragmas, migrations; and the
//! small helpers every operation shares (write transactions, clock, DID rows).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use atoll_registry::Did;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::error::{CatalogError, OpenError};
use crate::schema::{self, APPLICATION_ID, SCHEMA_VERSION};

/// How long a writer waits for another writer's lock before giving up with
/// [`CatalogError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// An open catalog: one SQLite connection. Open one per thread or task; SQLite and the
/// catalog's write transactions serialise writers across connections and processes.
#[derive(Debug)]
pub struct Catalog {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Catalog {
    /// Open (or create) the catalog at `path`, migrating an older schema.
    ///
    /// Fails with a typed [`OpenError`] — never a panic — if the file is not an SQLite
    /// database, belongs to another program, comes from a newer atoll, or is damaged.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref().to_owned();
        let io = |source| OpenError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        check_header(&path)
            .map_err(io)?
            .then_some(())
            .ok_or_else(|| OpenError::NotADatabase { path: path.clone() })?;
        let sqlite = |source: rusqlite::Error| classify(&path, source);
        let mut conn = Connection::open(&path).map_err(sqlite)?;
        tune(&conn).map_err(sqlite)?;
        // Identify the file before changing anything in it.
        let app_id = schema::application_id(&conn).map_err(sqlite)?;
        let version = schema::user_version(&conn).map_err(sqlite)?;
        if app_id != APPLICATION_ID {
            let objects = schema::object_count(&conn).map_err(sqlite)?;
            if app_id != 0 || version != 0 || objects != 0 {
                return Err(OpenError::Foreign {
                    path,
                    application_id: app_id,
                    user_version: version,
                    objects,
                });
            }
        }
        if version > SCHEMA_VERSION {
            return Err(OpenError::TooNew {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "catalog could not switch to WAL journaling");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        // Foreign keys are declared for documentation and verified by `check()`
        // (`foreign_key_check`), but not enforced per statement: enforcement cost a third
        // of ingest time, and every write path is covered by tests that run `check()`.
        conn.pragma_update(None, "foreign_keys", false)
            .map_err(sqlite)?;
        schema::migrate(&mut conn).map_err(|(version, source)| match classify(&path, source) {
            OpenError::Sqlite { path, source } => OpenError::Migration {
                path,
                version,
                source,
            },
            other => other,
        })?;
        tracing::debug!(path = %path.display(), "catalog open");
        Ok(Self { conn, path })
    }

    /// The file this catalog lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file (always [`SCHEMA_VERSION`] after `open`).
    pub fn schema_version(&self) -> Result<i64, CatalogError> {
        Ok(schema::user_version(&self.conn)?)
    }

    /// Run `f` in a `BEGIN IMMEDIATE` transaction: it takes the write lock first, so the
    /// reads `f` makes cannot be invalidated by another writer before it commits.
    ///
    /// Inside a transaction already open on this connection (the batch of a
    /// [`crate::CatalogService`] writer), `f` runs in a savepoint instead: it is all or
    /// nothing within the enclosing transaction, which commits it.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        if self.conn.is_autocommit() {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        } else {
            let sp = self.conn.savepoint()?;
            let out = f(&sp)?;
            sp.commit()?;
            Ok(out)
        }
    }

    /// Open a read-only connection to a catalog that [`Catalog::open`] has already
    /// created and migrated (in WAL mode, so it reads the last committed state without
    /// waiting for writers). `PRAGMA query_only` makes any write through it fail.
    pub(crate) fn open_read_only(path: &Path) -> Result<Self, OpenError> {
        let sqlite = |source: rusqlite::Error| classify(path, source);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
        tune(&conn).map_err(sqlite)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(sqlite)?;
        let version = schema::user_version(&conn).map_err(sqlite)?;
        if version > SCHEMA_VERSION {
            return Err(OpenError::TooNew {
                path: path.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }
}

/// What every catalog connection gets, writer and readers alike: the busy timeout, a
/// statement cache large enough for ingest (~20 statements; a smaller one would re-parse
/// SQL per entry), a 64 MiB page cache and memory-mapped reads (a 100k-entry catalog's
/// indexes stay in memory instead of being re-read through syscalls on every lookup).
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(128);
    conn.pragma_update(None, "cache_size", -65536)?;
    let _: i64 = conn.query_row("PRAGMA mmap_size = 268435456", [], |r| r.get(0))?;
    Ok(())
}

/// True if the file is absent, empty, or starts with the SQLite magic.
fn check_header(path: &Path) -> std::io::Result<bool> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read == 0 || (read == head.len() && &head == SQLITE_MAGIC))
}

fn classify(path: &Path, source: rusqlite::Error) -> OpenError {
    use rusqlite::ErrorCode;
    let path = path.to_owned();
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => OpenError::NotADatabase { path },
        Some(ErrorCode::DatabaseCorrupt) => OpenError::Corrupt {
            path,
            detail: source.to_string(),
        },
        _ => OpenError::Sqlite { path, source },
    }
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// SQLite integers are i64; every time and sequence in a verified payload is at most
/// 2^53 - 1, so this never saturates for verified input.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Row id of a DID, if known.
pub(crate) fn find_publisher(conn: &Connection, did: &Did) -> Result<Option<i64>, CatalogError> {
    Ok(conn
        .prepare_cached("SELECT id FROM publishers WHERE did = ?1")?
        .query_row([did.to_string()], |r| r.get(0))
        .optional()?)
}

/// Row id of a DID, adding it if new.
pub(crate) fn publisher_id(tx: &Connection, did: &Did, now: u64) -> Result<i64, CatalogError> {
    if let Some(id) = find_publisher(tx, did)? {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO publishers (did, first_seen) VALUES (?1, ?2)")?
        .execute(rusqlite::params![did.to_string(), to_i64(now)])?;
    Ok(tx.last_insert_rowid())
}

//! The orchestrator's desired state, kept in the catalog file: the one durable
//! [`DesiredState`]. Each [`AppRecord`] is one row of the catalog's `installed` table (the
//! typed columns the marketplace reads, plus the record as JSON), so what the orchestrator
//! runs and what the marketplace, `catalog list`, auto-update and the API show as installed
//! is one record, written in one transaction per change.
//!
//! A data dir from before this lived in two databases; its `orchestrator.db` is imported
//! once at start ([`import_orchestrator_db`]).

use std::path::{Path, PathBuf};

use atoll_catalog::{CatalogService, DesiredRun, InstalledRow};
use atoll_orchestrator::error::StoreError;
use atoll_orchestrator::{AppRecord, DesiredState, StoreFuture, Wanted};
use atoll_registry::{AppRef, Hash};

/// Desired state in the catalog, through the catalog service (reads on a read-only
/// connection, writes on its writer thread: never on an async worker thread).
#[derive(Debug, Clone)]
pub struct CatalogDesired {
    catalog: CatalogService,
}

impl CatalogDesired {
    /// Desired state in this catalog.
    pub fn new(catalog: CatalogService) -> Self {
        Self { catalog }
    }
}

/// The catalog row of a record.
fn to_row(record: &AppRecord) -> Result<InstalledRow, StoreError> {
    let json = serde_json::to_string(record).map_err(|source| StoreError::Record {
        name: record.name.clone(),
        source,
    })?;
    Ok(InstalledRow {
        name: record.name.clone(),
        app: record
            .release
            .source
            .as_deref()
            .and_then(|s| s.parse::<AppRef>().ok()),
        version: record.release.version().clone(),
        manifest_hash: record.release.manifest_hash,
        wanted: match record.wanted {
            Wanted::Running => DesiredRun::Running,
            Wanted::Stopped => DesiredRun::Stopped,
            Wanted::Removed { .. } => DesiredRun::Removed,
        },
        stopped_by_user: record.stopped_by_user,
        record: json,
        updated_at: record.updated_at,
    })
}

/// The record of a catalog row.
fn from_row(row: InstalledRow) -> Result<AppRecord, StoreError> {
    serde_json::from_str(&row.record).map_err(|source| StoreError::Record {
        name: row.name,
        source,
    })
}

impl DesiredState for CatalogDesired {
    fn list(&self) -> StoreFuture<'_, Vec<AppRecord>> {
        Box::pin(async move {
            let rows = self
                .catalog
                .read(|c| c.installed_apps())
                .await
                .map_err(StoreError::backend)?;
            rows.into_iter().map(from_row).collect()
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<AppRecord>> {
        let name = name.to_owned();
        Box::pin(async move {
            let row = self
                .catalog
                .read(move |c| c.installed_app(&name))
                .await
                .map_err(StoreError::backend)?;
            row.map(from_row).transpose()
        })
    }

    fn put<'a>(&'a self, record: &'a AppRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let row = to_row(record)?;
            self.catalog
                .write(move |c| c.put_installed(&row))
                .await
                .map_err(StoreError::backend)
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        let name = name.to_owned();
        Box::pin(async move {
            self.catalog
                .write(move |c| c.delete_installed(&name).map(|_| ()))
                .await
                .map_err(StoreError::backend)
        })
    }
}

/// Why an old `orchestrator.db` could not be imported (the file is left as it was, and the
/// node does not start, so nothing runs without its record).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The old database could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A row of it is not a valid record.
    #[error("{}: app {name:?}: {what}", path.display())]
    BadRow {
        /// The file.
        path: PathBuf,
        /// The install name.
        name: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The catalog refused the rows.
    #[error("importing {} into the catalog: {source}", path.display())]
    Catalog {
        /// The file.
        path: PathBuf,
        /// The catalog's error.
        #[source]
        source: atoll_catalog::CatalogError,
    },
    /// The imported file could not be renamed.
    #[error("renaming {} after importing it: {source}", path.display())]
    Rename {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The old file's name in a data dir.
pub const OLD_DB: &str = "orchestrator.db";

/// Import `<data>/orchestrator.db` (the orchestrator's own database before desired state
/// moved into the catalog) into the catalog, in one transaction, keeping rows the catalog
/// already has under the same name; then rename it `orchestrator.db.imported`. Returns how
/// many records were added (`None`: no old file). Blocking: call before the node serves.
pub fn import_orchestrator_db(
    data: &Path,
    catalog: &CatalogService,
) -> Result<Option<usize>, ImportError> {
    let path = data.join(OLD_DB);
    if !path.exists() {
        return Ok(None);
    }
    let rows = read_old(&path)?;
    let added = catalog
        .write_blocking(move |c| c.import_installed(&rows))
        .map_err(|source| ImportError::Catalog {
            path: path.clone(),
            source,
        })?;
    let done = data.join(format!("{OLD_DB}.imported"));
    std::fs::rename(&path, &done).map_err(|source| ImportError::Rename {
        path: path.clone(),
        source,
    })?;
    // The old store ran in WAL mode; closing it checkpointed the log, so what is left of
    // its side files is empty.
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("{OLD_DB}{side}")));
    }
    tracing::info!(added, from = %path.display(), "imported the orchestrator's old desired state into the catalog");
    Ok(Some(added))
}

/// The rows of an old `orchestrator_apps` table, from its typed columns and record text.
fn read_old(path: &Path) -> Result<Vec<InstalledRow>, ImportError> {
    let read = |source| ImportError::Read {
        path: path.to_owned(),
        source,
    };
    let conn = rusqlite::Connection::open(path).map_err(read)?;
    let raw = {
        let mut stmt = conn
            .prepare(
                "SELECT name, version, manifest_hash, source, wanted, stopped_by_user, record, updated_at
                 FROM orchestrator_apps ORDER BY name",
            )
            .map_err(read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })
            .map_err(read)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(read)?
    };
    conn.close().map_err(|(_, e)| read(e))?;
    raw.into_iter()
        .map(
            |(name, version, hash, source, wanted, stopped_by_user, record, updated_at)| {
                let bad = |what| ImportError::BadRow {
                    path: path.to_owned(),
                    name: name.clone(),
                    what,
                };
                // The record must decode: it is what the orchestrator will run.
                serde_json::from_str::<AppRecord>(&record)
                    .map_err(|_| bad("its record is not an orchestrator record"))?;
                Ok(InstalledRow {
                    app: source.as_deref().and_then(|s| s.parse::<AppRef>().ok()),
                    version: version.parse().map_err(|_| bad("bad version"))?,
                    manifest_hash: hash.parse::<Hash>().map_err(|_| bad("bad manifest hash"))?,
                    wanted: match wanted.as_str() {
                        "running" => DesiredRun::Running,
                        "stopped" => DesiredRun::Stopped,
                        "removed" => DesiredRun::Removed,
                        _ => return Err(bad("bad wanted state")),
                    },
                    stopped_by_user,
                    record,
                    updated_at: u64::try_from(updated_at).unwrap_or(0),
                    name,
                })
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The schema `SqliteStore` created in `orchestrator.db` (orchestrator migration
    /// `store/migrations/001_apps.sql`, deleted when desired state moved to the catalog).
    const OLD_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS orchestrator_apps (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        manifest_hash TEXT NOT NULL,
        source TEXT,
        wanted TEXT NOT NULL CHECK (wanted IN ('running', 'stopped', 'removed')),
        stopped_by_user INTEGER NOT NULL DEFAULT 0,
        record TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );";

    fn record(name: &str, wanted: Wanted) -> AppRecord {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/hello-static");
        let (manifest, _) = atoll_registry::manifest::load(&dir).unwrap();
        let mut release =
            atoll_orchestrator::Release::new(manifest, &dir, Default::default()).unwrap();
        release.source = Some(format!(
            "{}/hello-static",
            atoll_registry::Keypair::from_seed([9; 32]).did()
        ));
        AppRecord {
            name: name.to_owned(),
            release,
            ports: [(8080, 18080)].into(),
            settings: Default::default(),
            links: Vec::new(),
            wanted,
            stopped_by_user: wanted == Wanted::Stopped,
            images: [("web".to_owned(), "ab".repeat(32))].into(),
            previous: None,
            phase: Default::default(),
            updated_at: 1_700_000_000,
        }
    }

    /// Write records the way `SqliteStore::put` did (WAL, the same columns).
    fn write_old(path: &Path, records: &[AppRecord]) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.execute_batch(OLD_SCHEMA).unwrap();
        for r in records {
            conn.execute(
                "INSERT INTO orchestrator_apps
                    (name, version, manifest_hash, source, wanted, stopped_by_user, record, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    r.name,
                    r.release.version().to_string(),
                    r.release.manifest_hash.to_hex(),
                    r.release.source,
                    r.wanted.as_str(),
                    r.stopped_by_user,
                    serde_json::to_string(r).unwrap(),
                    r.updated_at as i64,
                ],
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn an_old_orchestrator_db_is_imported_once_and_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = CatalogService::open(dir.path().join("catalog.db")).unwrap();
        let running = record("blog", Wanted::Running);
        let stopped = record("notes", Wanted::Stopped);
        let removing = record("old", Wanted::Removed { purge: true });
        write_old(
            &dir.path().join(OLD_DB),
            &[running.clone(), stopped.clone(), removing.clone()],
        );
        let data = dir.path().to_owned();
        let cat = catalog.clone();
        let added = tokio::task::spawn_blocking(move || import_orchestrator_db(&data, &cat))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(added, Some(3));
        assert!(!dir.path().join(OLD_DB).exists());
        assert!(dir.path().join("orchestrator.db.imported").exists());
        let store = CatalogDesired::new(catalog.clone());
        assert_eq!(
            store.list().await.unwrap(),
            vec![running.clone(), stopped, removing]
        );
        // The typed columns the marketplace reads.
        let rows = catalog.read(|c| c.installed_apps()).await.unwrap();
        assert_eq!(rows[0].wanted, DesiredRun::Running);
        assert_eq!(rows[1].wanted, DesiredRun::Stopped);
        assert_eq!(rows[2].wanted, DesiredRun::Removed);
        assert_eq!(rows[0].version, *running.release.version());
        // Once: a second start finds nothing to import and changes nothing.
        let data = dir.path().to_owned();
        let cat = catalog.clone();
        let again = tokio::task::spawn_blocking(move || import_orchestrator_db(&data, &cat))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, None);
        assert_eq!(store.list().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_bad_old_file_is_refused_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = CatalogService::open(dir.path().join("catalog.db")).unwrap();
        let old = dir.path().join(OLD_DB);
        write_old(&old, &[record("blog", Wanted::Running)]);
        {
            let conn = rusqlite::Connection::open(&old).unwrap();
            conn.execute("UPDATE orchestrator_apps SET record = '{\"not\": 1}'", [])
                .unwrap();
        }
        let data = dir.path().to_owned();
        let cat = catalog.clone();
        let err = tokio::task::spawn_blocking(move || import_orchestrator_db(&data, &cat))
            .await
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("\"blog\""), "{err}");
        assert!(old.exists(), "a refused file stays where it was");
        assert!(catalog
            .read(|c| c.installed_apps())
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn records_round_trip_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = CatalogService::open(dir.path().join("catalog.db")).unwrap();
        let store = CatalogDesired::new(catalog);
        let mut r = record("blog", Wanted::Running);
        store.put(&r).await.unwrap();
        r.wanted = Wanted::Removed { purge: false };
        r.phase = atoll_orchestrator::Phase::Preparing;
        store.put(&r).await.unwrap();
        assert_eq!(store.get("blog").await.unwrap(), Some(r.clone()));
        assert_eq!(store.list().await.unwrap(), vec![r]);
        store.delete("blog").await.unwrap();
        assert_eq!(store.get("blog").await.unwrap(), None);
    }
}

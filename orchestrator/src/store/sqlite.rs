//! [`DesiredState`] in SQLite: table `orchestrator_apps`, created if missing, so it can live
//! in its own file or beside other tables (it does not touch `PRAGMA user_version`).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::{AppRecord, DesiredState};
use crate::error::StoreError;

const SCHEMA: &str = include_str!("migrations/001_apps.sql");

/// Desired state in a SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "full")?;
        Self::with_connection(conn)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    /// Use an open connection (e.g. the catalog's database).
    pub fn with_connection(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

fn decode(name: String, json: String) -> Result<AppRecord, StoreError> {
    serde_json::from_str(&json).map_err(|source| StoreError::Record { name, source })
}

impl DesiredState for SqliteStore {
    fn list(&self) -> Result<Vec<AppRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare_cached("SELECT name, record FROM orchestrator_apps ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|(n, j)| decode(n, j)).collect()
    }

    fn get(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        let conn = self.conn()?;
        let json: Option<String> = conn
            .query_row(
                "SELECT record FROM orchestrator_apps WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| decode(name.to_owned(), j)).transpose()
    }

    fn put(&self, record: &AppRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|source| StoreError::Record {
            name: record.name.clone(),
            source,
        })?;
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO orchestrator_apps
                (name, version, manifest_hash, source, wanted, stopped_by_user, record, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(name) DO UPDATE SET
                version = excluded.version, manifest_hash = excluded.manifest_hash,
                source = excluded.source, wanted = excluded.wanted,
                stopped_by_user = excluded.stopped_by_user, record = excluded.record,
                updated_at = excluded.updated_at",
            params![
                record.name,
                record.release.version().to_string(),
                record.release.manifest_hash.to_hex(),
                record.release.source,
                record.wanted.as_str(),
                record.stopped_by_user,
                json,
                record.updated_at as i64,
            ],
        )?;
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM orchestrator_apps WHERE name = ?1", [name])?;
        Ok(())
    }
}

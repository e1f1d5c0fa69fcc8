//! Desired state: the orchestrator's record of every installed app, one row per install
//! name in table `installed` (migration 004). The catalog reads the typed columns (which
//! app, version, manifest, wanted, stopped by the user) for its views; the orchestrator's
//! whole record is kept as JSON text the catalog does not interpret. The node implements
//! the orchestrator's `DesiredState` over these methods (`src/node/desired.rs`), so every
//! change is one transaction in this file.

use std::str::FromStr;

use atoll_registry::{AppRef, Hash};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{CatalogError, Stored};
use crate::ingest::decode_hash;
use crate::store::{to_i64, Catalog};
use crate::stored::UnknownName;

/// What the operator wants an installed app to be (column `installed.wanted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredRun {
    /// Keep it running.
    Running,
    /// Keep it stopped.
    Stopped,
    /// Being uninstalled: the row goes once nothing of the app is left.
    Removed,
}

impl DesiredRun {
    /// `running`, `stopped` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Removed => "removed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => Self::Running,
            "stopped" => Self::Stopped,
            "removed" => Self::Removed,
            _ => return None,
        })
    }
}

/// One installed app: the orchestrator's record and the columns the catalog queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRow {
    /// Install name (a DNS label): names the app's containers, network and data dir.
    pub name: String,
    /// The catalog app it runs; `None` for an app not in the catalog (a local app dir).
    /// Reading a row gives `Some` only while the app is in the catalog.
    pub app: Option<AppRef>,
    /// The version recorded (during an update: the new one).
    pub version: semver::Version,
    /// Its manifest blob.
    pub manifest_hash: Hash,
    /// Running, stopped or being removed.
    pub wanted: DesiredRun,
    /// Stopped by a person: never restarted automatically.
    pub stopped_by_user: bool,
    /// The orchestrator's whole record, as JSON text (not interpreted by the catalog).
    pub record: String,
    /// Unix seconds of the last change.
    pub updated_at: u64,
}

const SELECT: &str = "SELECT i.name, p.did, a.app, i.version, i.manifest_hash, i.wanted,
        i.stopped_by_user, i.record, i.updated_at
     FROM installed i LEFT JOIN apps a ON a.id = i.app_id
     LEFT JOIN publishers p ON p.id = a.publisher_id";

type RawRow = (
    String,
    Option<String>,
    Option<String>,
    String,
    Vec<u8>,
    String,
    bool,
    String,
    i64,
);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn decode(row: RawRow) -> Result<InstalledRow, CatalogError> {
    let (name, did, app, version, hash, wanted, stopped_by_user, record, updated_at) = row;
    let at = |field: &'static str| Stored::Installed {
        app: name.chars().take(64).collect(),
        field,
    };
    let app = match (did, app) {
        (Some(did), Some(app)) => Some(
            AppRef::from_str(&format!("{did}/{app}"))
                .map_err(|e| CatalogError::decode(at("app ref"), e))?,
        ),
        _ => None,
    };
    let wanted = DesiredRun::parse(&wanted).ok_or_else(|| {
        CatalogError::decode(
            at("wanted"),
            UnknownName {
                what: "desired run state",
                value: wanted.chars().take(64).collect(),
            },
        )
    })?;
    Ok(InstalledRow {
        app,
        version: version
            .parse()
            .map_err(|e| CatalogError::decode(at("version"), e))?,
        manifest_hash: decode_hash(hash)?,
        wanted,
        stopped_by_user,
        record,
        updated_at: u64::try_from(updated_at).unwrap_or(0),
        name,
    })
}

/// Row id of a catalog app, if it is in the catalog.
fn app_id(tx: &Connection, app: &AppRef) -> Result<Option<i64>, CatalogError> {
    Ok(tx
        .prepare_cached(
            "SELECT a.id FROM apps a JOIN publishers p ON p.id = a.publisher_id
             WHERE p.did = ?1 AND a.app = ?2",
        )?
        .query_row(
            params![app.publisher.to_string(), app.app.to_string()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Insert or replace one row (inside the caller's transaction); with `replace` false an
/// existing row of that name is kept. True if a row was written.
fn upsert(tx: &Connection, row: &InstalledRow, replace: bool) -> Result<bool, CatalogError> {
    let app_id = match &row.app {
        Some(app) => app_id(tx, app)?,
        None => None,
    };
    let sql = if replace {
        "INSERT INTO installed (name, app_id, version, manifest_hash, wanted, stopped_by_user, record, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(name) DO UPDATE SET
            app_id = excluded.app_id, version = excluded.version,
            manifest_hash = excluded.manifest_hash, wanted = excluded.wanted,
            stopped_by_user = excluded.stopped_by_user, record = excluded.record,
            updated_at = excluded.updated_at"
    } else {
        "INSERT INTO installed (name, app_id, version, manifest_hash, wanted, stopped_by_user, record, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(name) DO NOTHING"
    };
    let n = tx.prepare_cached(sql)?.execute(params![
        row.name,
        app_id,
        row.version.to_string(),
        row.manifest_hash.as_bytes(),
        row.wanted.as_str(),
        row.stopped_by_user,
        row.record,
        to_i64(row.updated_at),
    ])?;
    Ok(n > 0)
}

impl Catalog {
    /// Record (insert or replace) an installed app, in one transaction. `row.app` links it
    /// to the catalog's app when the catalog has it.
    pub fn put_installed(&mut self, row: &InstalledRow) -> Result<(), CatalogError> {
        self.write(|tx| upsert(tx, row, true).map(|_| ()))
    }

    /// Import rows (e.g. from an old `orchestrator.db`) in one transaction, keeping rows
    /// that already exist under the same name. Returns how many were added.
    pub fn import_installed(&mut self, rows: &[InstalledRow]) -> Result<usize, CatalogError> {
        self.write(|tx| {
            let mut added = 0;
            for row in rows {
                added += usize::from(upsert(tx, row, false)?);
            }
            Ok(added)
        })
    }

    /// Forget an installed app (after everything of it was removed); false if it was not
    /// recorded.
    pub fn delete_installed(&mut self, name: &str) -> Result<bool, CatalogError> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached("DELETE FROM installed WHERE name = ?1")?
                .execute([name])?
                > 0)
        })
    }

    /// One installed app, by install name.
    pub fn installed_app(&self, name: &str) -> Result<Option<InstalledRow>, CatalogError> {
        let raw = self
            .conn
            .prepare_cached(&format!("{SELECT} WHERE i.name = ?1"))?
            .query_row([name], raw)
            .optional()?;
        raw.map(decode).transpose()
    }

    /// Every installed app (also those being installed or removed), by install name.
    pub fn installed_apps(&self) -> Result<Vec<InstalledRow>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT} ORDER BY i.name"))?;
        let rows = stmt.query_map([], raw)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode(row?)?);
        }
        Ok(out)
    }
}

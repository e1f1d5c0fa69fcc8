//! Desired state for the orchestrator: which apps are installed, at which version, and
//! whether they should run. The orchestrator reconciles podman towards these rows.

use std::str::FromStr;

use atoll_registry::{AppRef, Hash};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Missing, Stored};
use crate::ingest::decode_hash;
use crate::store::{now, to_i64, Catalog};
use crate::stored::UnknownName;

/// Whether an installed app should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wanted {
    /// Keep it running.
    Running,
    /// Keep it stopped.
    Stopped,
}

impl Wanted {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }
}

/// One installed app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredApp {
    /// The app.
    pub app: AppRef,
    /// The version to run.
    pub version: semver::Version,
    /// Its manifest blob (must be named by a stored entry of that version).
    pub manifest_hash: Hash,
    /// Running or stopped.
    pub wanted: Wanted,
    /// Stopped by a person: never restarted automatically.
    pub stopped_by_user: bool,
}

impl Catalog {
    /// Set (insert or replace) the desired state of an app. The app must be in the
    /// catalog with a stored entry for that version and manifest hash.
    pub fn set_desired(&mut self, d: &DesiredApp) -> Result<(), CatalogError> {
        let now = now();
        self.write(|tx| {
            let app_id: Option<i64> = tx
                .query_row(
                    "SELECT a.id FROM apps a JOIN publishers p ON p.id = a.publisher_id
                     JOIN entries e ON e.app_id = a.id
                     WHERE p.did = ?1 AND a.app = ?2 AND e.version = ?3 AND e.manifest_hash = ?4
                       AND e.status != 'conflict'
                     LIMIT 1",
                    params![
                        d.app.publisher.to_string(),
                        d.app.app.to_string(),
                        d.version.to_string(),
                        d.manifest_hash.as_bytes()
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            let app_id = app_id.ok_or_else(|| {
                CatalogError::NotFound(Box::new(Missing::Entry { app: d.app.clone(), version: d.version.clone(), manifest: d.manifest_hash }))
            })?;
            tx.execute(
                "INSERT OR REPLACE INTO installed (app_id, version, manifest_hash, wanted, stopped_by_user, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    app_id,
                    d.version.to_string(),
                    d.manifest_hash.as_bytes(),
                    d.wanted.as_str(),
                    d.stopped_by_user,
                    to_i64(now)
                ],
            )?;
            Ok(())
        })
    }

    /// Forget an app's desired state (uninstall); false if it was not installed.
    pub fn remove_desired(&mut self, app: &AppRef) -> Result<bool, CatalogError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM installed WHERE app_id IN (
                     SELECT a.id FROM apps a JOIN publishers p ON p.id = a.publisher_id
                     WHERE p.did = ?1 AND a.app = ?2)",
                params![app.publisher.to_string(), app.app.to_string()],
            )? > 0)
        })
    }

    /// Every installed app.
    pub fn desired(&self) -> Result<Vec<DesiredApp>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.did, a.app, i.version, i.manifest_hash, i.wanted, i.stopped_by_user
             FROM installed i JOIN apps a ON a.id = i.app_id JOIN publishers p ON p.id = a.publisher_id
             ORDER BY p.did, a.app",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (did, app, version, hash, wanted, stopped_by_user) = row?;
            let bad = |field: &'static str| {
                CatalogError::decode(
                    Stored::Installed {
                        app: format!("{did}/{app}"),
                        field,
                    },
                    UnknownName {
                        what: field,
                        value: format!("{did}/{app}"),
                    },
                )
            };
            out.push(DesiredApp {
                app: AppRef::from_str(&format!("{did}/{app}")).map_err(|_| bad("app ref"))?,
                version: version.parse().map_err(|_| bad("version"))?,
                manifest_hash: decode_hash(hash)?,
                wanted: match wanted.as_str() {
                    "running" => Wanted::Running,
                    "stopped" => Wanted::Stopped,
                    _ => return Err(bad("wanted")),
                },
                stopped_by_user,
            });
        }
        Ok(out)
    }
}

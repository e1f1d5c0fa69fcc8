//! App data on disk: what an installed app keeps (its volumes, their sizes, whether it has
//! generated secrets), the data left by apps uninstalled without a purge (listed so it is
//! never invisible), and deleting such data.

use std::path::Path;

use serde::Serialize;

use crate::error::{DataError, StoreError};
use crate::labels;
use crate::orchestrator::Orchestrator;

/// The file in a kept data dir naming the app it belongs to (`<did>/<app>`), written
/// when an app is uninstalled without purge.
pub const SOURCE_FILE: &str = "source";

/// One volume of an app's data dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeUse {
    /// The manifest's volume name.
    pub name: String,
    /// Bytes of its files (not following links).
    pub bytes: u64,
}

/// The data an app has on disk (`<data>/apps/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppData {
    /// Install name.
    pub name: String,
    /// The app it belongs to (`<did>/<app>`), when known.
    pub source: Option<String>,
    /// Its volumes, by name.
    pub volumes: Vec<VolumeUse>,
    /// Bytes of all its volumes.
    pub bytes: u64,
    /// It holds generated secrets (a reinstall on this data reuses them).
    pub secrets: Vec<String>,
}

impl AppData {
    /// Nothing worth keeping: no volume with data and no secret.
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty() && self.secrets.is_empty()
    }
}

/// Why kept data could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteDataError {
    /// The name is not an install name.
    #[error("{0:?} is not a valid install name")]
    InvalidName(String),
    /// The app is installed: uninstall it with purge instead.
    #[error("{0:?} is installed: uninstall it with purge to delete its data")]
    Installed(String),
    /// No data is kept under that name.
    #[error("no data is kept for {0:?}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Deleting failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Bytes of the regular files under `dir` (links not followed; unreadable parts count 0).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_bytes(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// Sorted names of the entries of `dir` (none when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What `app_dir` holds.
fn app_data(name: &str, app_dir: &Path) -> AppData {
    let volumes: Vec<VolumeUse> = names(&app_dir.join("volumes"))
        .into_iter()
        .map(|v| VolumeUse {
            bytes: tree_bytes(&crate::volumes::path(app_dir, &v)),
            name: v,
        })
        .collect();
    let source = std::fs::read_to_string(app_dir.join(SOURCE_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() < 512);
    AppData {
        name: name.to_owned(),
        source,
        bytes: volumes.iter().map(|v| v.bytes).sum(),
        volumes,
        secrets: names(&crate::secrets::dir(app_dir)),
    }
}

impl Orchestrator {
    /// The data app `name` has on disk (installed or not): empty when it has none.
    pub async fn data_of(&self, name: &str) -> AppData {
        let dir = self.shared().config.app_dir(name);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || app_data(&name, &dir))
            .await
            .unwrap_or_else(|_| AppData {
                name: String::new(),
                source: None,
                volumes: Vec::new(),
                bytes: 0,
                secrets: Vec::new(),
            })
    }

    /// Data dirs of apps that are not installed (uninstalled without purge, or a failed
    /// install's), with something in them: a reinstall under the same name reuses it.
    pub async fn kept_data(&self) -> Result<Vec<AppData>, StoreError> {
        let installed: Vec<String> = self
            .shared()
            .store
            .list()
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        let root = self.shared().config.data_dir.join("apps");
        let found = tokio::task::spawn_blocking(move || {
            names(&root)
                .into_iter()
                .filter(|n| labels::valid_app_name(n) && !installed.contains(n))
                .map(|n| app_data(&n, &root.join(&n)))
                .filter(|d| !d.is_empty())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        Ok(found)
    }

    /// Delete the kept data of `name`, an app that is not installed.
    pub async fn delete_data(&self, name: &str) -> Result<AppData, DeleteDataError> {
        if !labels::valid_app_name(name) {
            return Err(DeleteDataError::InvalidName(name.to_owned()));
        }
        let shared = self.shared();
        let _lock = shared.lock_app(name).await;
        if shared.store.get(name).await?.is_some() {
            return Err(DeleteDataError::Installed(name.to_owned()));
        }
        let dir = shared.config.app_dir(name);
        if !dir.exists() {
            return Err(DeleteDataError::NotFound(name.to_owned()));
        }
        let data = self.data_of(name).await;
        let path = dir.clone();
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&path))
            .await
            .map_err(|e| DataError::Io {
                op: "delete",
                path: dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
            .map_err(|source| DataError::Io {
                op: "delete",
                path: dir,
                source,
            })?;
        tracing::info!(app = %name, bytes = data.bytes, "kept data deleted");
        Ok(data)
    }
}

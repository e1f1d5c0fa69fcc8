//! Desired state: which apps are installed, at which release, wanted running or stopped,
//! stopped by the user or not, and (while an update is being proven) the release to go
//! back to. The reconcile loop reads it; operations write it.
//!
//! [`DesiredState`] is the interface; [`SqliteStore`] keeps it in a SQLite table of its own
//! (`orchestrator_apps`), in the orchestrator's database or in any other database file
//! (the catalog's), and [`MemoryStore`] keeps it in memory for unit tests.

mod memory;
mod sqlite;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use crate::error::StoreError;
use crate::release::Release;

/// What the operator wants an app to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Wanted {
    /// Running and healthy.
    Running,
    /// Installed but not running.
    Stopped,
    /// Being uninstalled: removed once no container or network of it is left.
    Removed {
        /// Also delete the app's data dir (volumes, secrets).
        purge: bool,
    },
}

impl Wanted {
    /// `running`, `stopped` or `removed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Removed { .. } => "removed",
        }
    }
}

/// The release an update replaced, kept until the update is proven (for the rollback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    /// The old release.
    pub release: Release,
    /// Its image ids per container.
    pub images: BTreeMap<String, String>,
}

/// One installed app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    /// Install name (a DNS label); names its containers, network and data dir.
    pub name: String,
    /// What runs.
    pub release: Release,
    /// Host port overrides: the manifest's host port -> the host port used.
    #[serde(default)]
    pub ports: BTreeMap<u16, u16>,
    /// Running, stopped or being removed.
    pub wanted: Wanted,
    /// Stopped by the operator: never started again by the loop, a reboot or an update.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Image id per container, resolved when the images were loaded.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    /// The release to roll back to while an update is being proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<Previous>>,
    /// Unix seconds of the last change.
    #[serde(default)]
    pub updated_at: u64,
}

impl AppRecord {
    /// The host port used for a manifest host port.
    pub fn host_port(&self, manifest_port: u16) -> u16 {
        self.ports
            .get(&manifest_port)
            .copied()
            .unwrap_or(manifest_port)
    }
}

/// Where desired state lives. Implementations must be cheap to call (the loop reads the
/// whole set on every pass) and must make each `put`/`delete` durable before returning.
pub trait DesiredState: Send + Sync + std::fmt::Debug {
    /// Every installed app (including those being removed), by name.
    fn list(&self) -> Result<Vec<AppRecord>, StoreError>;
    /// One app.
    fn get(&self, name: &str) -> Result<Option<AppRecord>, StoreError>;
    /// Insert or replace an app.
    fn put(&self, record: &AppRecord) -> Result<(), StoreError>;
    /// Forget an app (after everything of it was removed).
    fn delete(&self, name: &str) -> Result<(), StoreError>;
}

/// Unix seconds now.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

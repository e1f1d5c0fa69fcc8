//! Desired state: which apps are installed, at which release, wanted running or stopped,
//! stopped by the user or not, and (while an update is being proven) the release to go
//! back to. The reconcile loop reads it; operations write it.
//!
//! [`DesiredState`] is the interface, asynchronous so that a store may run its I/O off the
//! async worker threads. The node's one durable implementation keeps each [`AppRecord`] in
//! the catalog file (`src/node/desired.rs` in the binary); [`MemoryStore`] keeps it in
//! memory for this crate's tests.

mod memory;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use memory::MemoryStore;

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
    /// The backup taken before the update: a rollback restores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
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
    /// The setting values the operator gave at install (defaults are not stored: see
    /// [`crate::settings`]); kept by updates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
    /// Install names of the apps this one depends on (the manifest's `dependencies`, as
    /// the node resolved them): its containers are also attached to each one's network,
    /// where that app's containers answer as `<app id>-<container>`. Kept by updates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
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
    /// Whether the images of `release` are loaded and recorded: only a
    /// [`Phase::Prepared`] record has containers created for it.
    #[serde(default, skip_serializing_if = "Phase::is_prepared")]
    pub phase: Phase,
    /// Unix seconds of the last change.
    #[serde(default)]
    pub updated_at: u64,
}

/// How far an install or update of a record's release got. The record is written before
/// anything is created, so a crash at any point leaves a record that says what is left to
/// do ([`crate::Orchestrator::resume`] does it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Recorded; its images are not loaded (or their ids not recorded) yet. The loop
    /// creates nothing for it and leaves an update's old containers as they are.
    Preparing,
    /// Images loaded and recorded: the loop creates and runs its containers.
    #[default]
    Prepared,
}

impl Phase {
    /// Is this [`Phase::Prepared`]?
    pub fn is_prepared(&self) -> bool {
        *self == Self::Prepared
    }
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

/// What a [`DesiredState`] call returns: a boxed `Send` future (the trait is used as a
/// trait object).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where desired state lives. Implementations must be cheap to call (the loop reads the
/// whole set on every pass), must not block the async worker threads, and must make each
/// `put`/`delete` durable (one transaction) before its future resolves.
pub trait DesiredState: Send + Sync + std::fmt::Debug {
    /// Every installed app (including those being installed or removed), by name.
    fn list(&self) -> StoreFuture<'_, Vec<AppRecord>>;
    /// One app.
    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<AppRecord>>;
    /// Insert or replace an app.
    fn put<'a>(&'a self, record: &'a AppRecord) -> StoreFuture<'a, ()>;
    /// Forget an app (after everything of it was removed).
    fn delete<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()>;
}

/// Unix seconds now.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

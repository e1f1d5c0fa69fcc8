//! # atoll-orchestrator
//!
//! Installs, runs, updates and removes verified apps on **rootless podman**, and keeps them
//! the way the operator wants them — for months, through crashes, reboots and whatever the
//! podman world throws at it (see `docs/orchestrator.md` for each failure mode and the test
//! that covers it).
//!
//! ```no_run
//! use std::sync::Arc;
//! use atoll_orchestrator::{Config, InstallRequest, Orchestrator, PodmanConfig, ProgressSink, Release};
//! use atoll_orchestrator::store::MemoryStore;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new("node-1", "/var/lib/atoll".as_ref(), PodmanConfig::rootless("atoll"));
//! // Desired state: the node keeps it in its catalog (`src/node/desired.rs`); here in memory.
//! let orch = Orchestrator::open(config, Arc::new(MemoryStore::default())).await?;
//! let release = Release::from_app_dir("apps/hello-static".as_ref())?;
//! let (progress, mut events) = ProgressSink::channel();
//! tokio::spawn(async move {
//!     while let Some(p) = events.recv().await {
//!         println!("[{:>3}%] {:?}: {}", p.percent, p.stage, p.message);
//!     }
//! });
//! let report = orch.install(InstallRequest::new(release), &progress).await?;
//! println!("{} {} ready at {:?}", report.name, report.version, report.web_url);
//! for app in orch.ps().await? {
//!     println!("{} {:?}", app.name, app.state);
//! }
//! orch.uninstall("hello-static", false, &progress).await?;
//! # Ok(()) }
//! ```
//!
//! ## How it works
//!
//! * **Desired state** ([`store`]): installed apps with their [`Release`], wanted running or
//!   stopped, stopped-by-user, and the rollback target while an update is being proven.
//! * **Reconcile loop** ([`Orchestrator`], an actor with a cloneable handle): level-triggered.
//!   Each pass lists the containers labelled with this node and, per app, a pure decision
//!   turns desired state, the listed containers and the runtime facts ([`runtime`]) into
//!   actions, which the actor executes: create, start in `depends_on` order, stop with the
//!   manifest's grace, recreate on drift (config-hash label, then the inspected
//!   configuration itself), force-remove and recreate zombies, restart with backoff, remove
//!   orphans. Passes run periodically, when
//!   the podman events stream reports something, when a health check changes, and when an
//!   operation asks.
//! * **podman** ([`podman`]): the libpod REST API over the rootless user's socket (hyper),
//!   served by `podman system service`, which the [`service`] supervisor starts when it does
//!   not answer and starts again when it died. The CLI's JSON output is only a fallback.
//!   Everything created carries `io.atoll.*` labels; nothing else is ever touched.
//! * **Images** ([`images`]): archives are BLAKE3-checked against the signed entry before
//!   podman sees them, then loaded (skipped when podman already has the image id);
//!   references are pulled.
//! * **Health** ([`health`]): run by the orchestrator (podman runs none without systemd).
//! * **Data**: volumes are bind mounts of `<data>/apps/<app>/volumes/<name>`; generated
//!   secrets are files (0600) in `<data>/apps/<app>/secrets/`. Both survive updates,
//!   restarts and uninstall; only a purge deletes them.
//! * **Quadlet** ([`quadlet`]): `.container`/`.network` units for hosts with systemd and
//!   podman >= 4.4.
//!
//! Modules: [`config`], [`host`], [`service`], [`podman`], [`images`], [`spec`], [`drift`],
//! [`health`], [`secrets`], [`volumes`], [`store`], [`release`], [`progress`], [`quadlet`],
//! [`error`]; the operations are methods of [`Orchestrator`].
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod actor;
pub mod backup;
pub mod config;
pub mod drift;
pub mod error;
pub mod files;
pub mod health;
pub mod host;
pub mod images;
pub mod labels;
mod ops;
mod orchestrator;
pub mod order;
pub mod podman;
pub mod procfs;
pub mod progress;
pub mod quadlet;
mod reconcile;
pub mod release;
pub mod runtime;
pub mod secrets;
pub mod service;
pub mod settings;
mod shared;
pub mod spec;
pub mod store;
pub mod volumes;

#[cfg(test)]
mod testutil;

pub use config::{Backoff, Config};
pub use error::{
    BackupError, ControlError, DataError, HostError, ImageError, InstallError, PodmanError,
    QueryError, ReconcileError, ReleaseError, ServiceError, StartError, StoreError, UninstallError,
    UpdateError, WaitError,
};
pub use health::HealthStatus;
pub use host::{PodmanConfig, PodmanHost, StorageDirs};
pub use ops::{
    failpoint, AppData, AppState, AppStatus, AppUsage, ContainerStatus, ContainerUsage,
    DeleteDataError, InstallReport, InstallRequest, PortStatus, RestoreReport, Resumed,
    UpdateReport, VolumeUsage, VolumeUse,
};
pub use orchestrator::Orchestrator;
pub use podman::types::ContainerState;
pub use progress::{Operation, Progress, ProgressSink, Stage};
pub use reconcile::PassReport;
pub use release::Release;
pub use store::{AppRecord, DesiredState, MemoryStore, Phase, Previous, StoreFuture, Wanted};

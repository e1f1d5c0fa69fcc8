//! The level-triggered reconcile pass: read desired state, list what podman has (label
//! `io.atoll.node=<node>`), act app by app, remove orphans, then refresh the runtime table
//! and the health tasks. A pass never assumes what the previous one did: it only compares
//! wanted with actual, so any number of failures in between converge the same way.
//!
//! Per app, the pass gathers the inputs (`app.rs`), asks the pure decision (`decide.rs`)
//! for a plan of typed actions, and executes them (`execute.rs`, `actions.rs`).

mod actions;
mod app;
mod decide;
mod execute;
mod orphans;
mod refresh;
mod stop;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{PodmanError, ReconcileError};
use crate::labels;
use crate::podman::types::{ListedContainer, Network};
use crate::progress::ProgressSink;
use crate::shared::Shared;
use crate::spec;

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// Apps whose reconciliation failed, with the error.
    pub errors: BTreeMap<String, Arc<ReconcileError>>,
    /// The pass as a whole failed (podman unreachable, desired state unreadable): no app
    /// was reconciled.
    pub failed: Option<Arc<ReconcileError>>,
    /// Containers created, started, stopped or removed.
    pub actions: u32,
    /// When the next pass is due for a waiting container (backoff, an exit being recorded).
    pub next_wake: Option<Instant>,
}

struct HealthTask {
    key: (String, i64),
    handle: tokio::task::JoinHandle<()>,
}

/// The actor-owned part of reconciliation (caches and health tasks).
pub(crate) struct Reconciler {
    shared: Arc<Shared>,
    /// Container id -> config hash verified against its inspected configuration.
    verified: HashMap<String, String>,
    /// Image id -> the image's default environment.
    image_env: HashMap<String, Vec<String>>,
    /// (container id, pid) -> conmon pid.
    conmon: HashMap<(String, i64), i64>,
    /// Containers created by this process (others found `created` were reset by a reboot).
    created: HashSet<String>,
    health: HashMap<(String, String), HealthTask>,
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        for task in self.health.values() {
            task.handle.abort();
        }
    }
}

impl PassReport {
    /// The error that stopped `app` from being reconciled in this pass, if any.
    pub fn error_for(&self, app: &str) -> Option<&Arc<ReconcileError>> {
        self.errors.get(app).or(self.failed.as_ref())
    }
}

impl Reconciler {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            verified: HashMap::new(),
            image_env: HashMap::new(),
            conmon: HashMap::new(),
            created: HashSet::new(),
            health: HashMap::new(),
        }
    }

    /// List our containers; on a transport error make sure the service runs and retry once.
    async fn list(&self, extra: &[(&str, &str)]) -> Result<Vec<ListedContainer>, ReconcileError> {
        let node = self.shared.config.node.as_str();
        let mut labels = vec![(labels::NODE, node)];
        labels.extend_from_slice(extra);
        match self.shared.podman.list_containers(&labels).await {
            Ok(list) => Ok(list),
            Err(e) if e.is_transport() => {
                self.shared.service.ensure().await?;
                Ok(self.shared.podman.list_containers(&labels).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One pass over every app. `sinks` receive progress for the apps an operation waits on.
    pub async fn pass(&mut self, sinks: &HashMap<String, ProgressSink>) -> PassReport {
        let mut report = PassReport::default();
        let result = self.pass_inner(sinks, &mut report).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "reconcile pass failed");
            let e = Arc::new(e);
            report.failed = Some(e.clone());
            let names = self
                .shared
                .store
                .list()
                .await
                .map(|rs| rs.into_iter().map(|r| r.name));
            if let Ok(names) = names {
                let mut rt = self.shared.runtime();
                for name in names {
                    rt.app_errors.insert(name, e.clone());
                }
            }
        }
        self.shared.runtime().passes += 1;
        self.shared.bump();
        report
    }

    async fn pass_inner(
        &mut self,
        sinks: &HashMap<String, ProgressSink>,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        self.shared.service.ensure().await?;
        let records = self.shared.store.list().await?;
        let containers = self.list(&[]).await?;
        let node = self.shared.config.node.clone();
        let networks: HashMap<String, Network> = self
            .shared
            .podman
            .list_networks(&[(labels::NODE, node.as_str())])
            .await?
            .into_iter()
            .map(|n| (n.name.clone(), n))
            .collect();
        let mut by_app: HashMap<String, Vec<ListedContainer>> = HashMap::new();
        for c in containers {
            let app = c.label(labels::APP).unwrap_or_default().to_owned();
            by_app.entry(app).or_default().push(c);
        }
        let known: HashSet<String> = records.iter().map(|r| r.name.clone()).collect();
        let none = ProgressSink::none();
        for record in &records {
            let actual = by_app.remove(&record.name).unwrap_or_default();
            let sink = sinks.get(&record.name).unwrap_or(&none);
            let outcome = self
                .reconcile_app(record, actual, &networks, sink, report)
                .await;
            let mut rt = self.shared.runtime();
            match outcome {
                Ok(()) => {
                    rt.app_errors.remove(&record.name);
                }
                Err(e) => {
                    tracing::warn!(app = %record.name, error = %e, "reconcile failed");
                    let e = Arc::new(e);
                    report.errors.insert(record.name.clone(), e.clone());
                    rt.app_errors.insert(record.name.clone(), e);
                }
            }
        }
        let orphans: Vec<ListedContainer> = by_app.into_values().flatten().collect();
        self.remove_orphans(orphans, &networks, &known, report)
            .await?;
        self.refresh().await?;
        Ok(())
    }
}

/// The earlier of two optional instants.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Stop grace of a listed container (its label), default otherwise.
pub(crate) fn listed_grace(c: &ListedContainer) -> std::time::Duration {
    c.label(labels::STOP_GRACE)
        .and_then(|s| s.parse().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(spec::DEFAULT_GRACE)
}

/// Is this error podman saying the name is taken?
pub(crate) fn name_in_use(e: &PodmanError) -> bool {
    matches!(e, PodmanError::Api { status, message, .. }
        if *status == 409 || message.contains("already in use"))
}

//! The level-triggered reconcile pass: read desired state, list what podman has (label
//! `io.atoll.node=<node>`), act app by app, remove orphans, then refresh the runtime table
//! and the health tasks. A pass never assumes what the previous one did: it only compares
//! wanted with actual, so any number of failures in between converge the same way.

mod actions;
mod app;
mod orphans;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{PodmanError, ReconcileError};
use crate::health::{self, HealthState, HealthStatus, Target};
use crate::labels;
use crate::podman::types::{ListedContainer, Network};
use crate::procfs;
use crate::progress::ProgressSink;
use crate::runtime::AppError;
use crate::shared::Shared;
use crate::spec;

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// Apps whose reconciliation failed, with the error.
    pub errors: BTreeMap<String, String>,
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

fn running_like(state: &str) -> bool {
    matches!(state, "running" | "stopping" | "paused")
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
            report.errors.insert(String::new(), e.to_string());
            if let Ok(records) = self.shared.store.list() {
                let mut rt = self.shared.runtime();
                for r in records {
                    rt.app_errors.insert(
                        r.name.clone(),
                        AppError {
                            message: e.to_string(),
                            permanent: false,
                        },
                    );
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
        let records = self.shared.store.list()?;
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
                    report.errors.insert(record.name.clone(), e.to_string());
                    rt.app_errors.insert(
                        record.name.clone(),
                        AppError {
                            message: e.to_string(),
                            permanent: permanent(&e),
                        },
                    );
                }
            }
        }
        let orphans: Vec<ListedContainer> = by_app.into_values().flatten().collect();
        self.remove_orphans(orphans, &networks, &known, report)
            .await?;
        self.refresh().await?;
        Ok(())
    }

    /// Refresh the runtime table from a fresh listing and (re)start health tasks.
    async fn refresh(&mut self) -> Result<(), ReconcileError> {
        let records = self.shared.store.list()?;
        let listed = self.list(&[]).await?;
        let node = self.shared.config.node.clone();
        let mut wanted_keys = HashSet::new();
        for record in &records {
            for c in &record.release.manifest.containers {
                let key = (record.name.clone(), c.name.clone());
                wanted_keys.insert(key.clone());
                let name = labels::container_name(&record.name, &c.name);
                let current = listed
                    .iter()
                    .find(|l| l.name() == name && l.label(labels::NODE) == Some(node.as_str()));
                let published_tcp: BTreeMap<u16, u16> = c
                    .ports
                    .iter()
                    .filter(|p| p.protocol == atoll_registry::manifest::Protocol::Tcp)
                    .map(|p| (p.container, record.host_port(p.host)))
                    .collect();
                let mut start_task = None;
                {
                    let mut rt = self.shared.runtime();
                    let entry = rt.entry(&record.name, &c.name);
                    entry.has_check = c.health.is_some();
                    match current {
                        Some(l) => {
                            let alive = running_like(&l.state) && procfs::state(l.pid).alive();
                            entry.id = Some(l.id.clone());
                            entry.pid = l.pid;
                            entry.state = l.state.clone();
                            entry.exit_code = (!running_like(&l.state)).then_some(l.exit_code);
                            // Set here, cleared only when we stop it or count its exit
                            // (a container that just died is still `running` for a moment).
                            if l.state == "running" && alive {
                                entry.seen_running = true;
                            }
                            if entry.ready() {
                                if let Some(started) = entry.last_start {
                                    if started.elapsed() >= self.shared.config.backoff.stable {
                                        entry.streak = 0;
                                        entry.not_before = None;
                                    }
                                }
                            }
                            if l.state == "running" && alive {
                                if let Some(h) = &c.health {
                                    let k = (l.id.clone(), l.pid);
                                    let task_ok = self
                                        .health
                                        .get(&key)
                                        .is_some_and(|t| t.key == k && !t.handle.is_finished());
                                    if !task_ok {
                                        entry.health = HealthState::starting();
                                        entry.health_key = Some(k.clone());
                                        start_task = Some((h.clone(), k, published_tcp));
                                    }
                                }
                            }
                        }
                        None => {
                            entry.id = None;
                            entry.pid = 0;
                            entry.state = "missing".to_owned();
                            entry.exit_code = None;
                            entry.seen_running = false;
                        }
                    }
                }
                let keep = current.is_some_and(|l| l.state == "running" && c.health.is_some());
                if let Some((check, k, published_tcp)) = start_task {
                    self.spawn_health(key.clone(), check, k, published_tcp);
                } else if !keep {
                    if let Some(task) = self.health.remove(&key) {
                        task.handle.abort();
                    }
                }
            }
        }
        // Forget what is no longer wanted.
        self.health.retain(|k, t| {
            let keep = wanted_keys.contains(k);
            if !keep {
                t.handle.abort();
            }
            keep
        });
        {
            let mut rt = self.shared.runtime();
            rt.containers.retain(|k, _| wanted_keys.contains(k));
            let apps: HashSet<&String> = records.iter().map(|r| &r.name).collect();
            rt.app_errors
                .retain(|a, _| a.is_empty() || apps.contains(a));
        }
        let live: HashSet<&str> = listed.iter().map(|l| l.id.as_str()).collect();
        self.verified.retain(|id, _| live.contains(id.as_str()));
        self.conmon.retain(|(id, _), _| live.contains(id.as_str()));
        self.created.retain(|id| live.contains(id.as_str()));
        Ok(())
    }

    fn spawn_health(
        &mut self,
        key: (String, String),
        check: atoll_registry::manifest::Health,
        task_key: (String, i64),
        published_tcp: BTreeMap<u16, u16>,
    ) {
        if let Some(old) = self.health.remove(&key) {
            old.handle.abort();
        }
        let target = Target {
            id: task_key.0.clone(),
            pid: task_key.1,
            published_tcp,
        };
        let shared = Arc::downgrade(&self.shared);
        let (app, container) = key.clone();
        let report_key = task_key.clone();
        let handle = health::spawn(check, target, self.shared.probe_env.clone(), move |state| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let changed = {
                let mut rt = shared.runtime();
                let Some(entry) = rt.containers.get_mut(&(app.clone(), container.clone())) else {
                    return;
                };
                if entry.health_key.as_ref() != Some(&report_key) {
                    return;
                }
                let before = entry.health.status;
                if state.status == HealthStatus::Unhealthy && before != HealthStatus::Unhealthy {
                    entry.unhealthy += 1;
                    entry.last_failure = Some(format!("unhealthy: {}", state.last_output));
                    tracing::warn!(%app, %container, output = %state.last_output, "container became unhealthy");
                }
                entry.health = state;
                before != entry.health.status
            };
            if changed {
                shared.wake.notify_one();
                shared.bump();
            }
        });
        self.health.insert(
            key,
            HealthTask {
                key: task_key,
                handle,
            },
        );
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

/// Errors that retrying will not fix.
fn permanent(e: &ReconcileError) -> bool {
    matches!(
        e,
        ReconcileError::NameConflict { .. } | ReconcileError::Data(_) | ReconcileError::Image(_)
    )
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

//! Executing a [`Plan`]: each action becomes podman calls (`actions.rs`), runtime-table
//! updates and progress notes. Once an action for a container fails, that container's later
//! actions are skipped; a failure of [`PlanAction::EnsureNetwork`] or a transport error ends the
//! app's plan; [`PlanAction::RemoveNetwork`] and [`PlanAction::FinishUninstall`] run only when
//! nothing before them failed. The first error is the app's error.

use std::collections::HashMap;

use super::decide::{ContainerSlot, Gate, Plan, PlanAction, RemoveWhy, WaitWhy};
use super::{PassReport, Reconciler};
use crate::error::{DataError, ReconcileError};
use crate::labels;
use crate::podman::types::Network;
use crate::progress::{ProgressSink, Stage};
use crate::runtime::Failure;
use crate::store::AppRecord;

impl Reconciler {
    pub(super) async fn execute(
        &mut self,
        record: &AppRecord,
        slots: &[ContainerSlot],
        plan: Plan,
        networks: &HashMap<String, Network>,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        let mut gate = Gate::default();
        let mut first_error: Option<ReconcileError> = None;
        let mut created: HashMap<String, String> = HashMap::new();
        for action in plan.actions {
            if !gate.allows(&action) {
                continue;
            }
            let ends_app = matches!(action, PlanAction::EnsureNetwork);
            let container = action.container().map(str::to_owned);
            let result = self
                .run_action(record, slots, action, &mut created, networks, sink, report)
                .await;
            if let Err(e) = result {
                if e.is_transport() || ends_app {
                    return Err(e);
                }
                gate.failed(container.as_deref());
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_action(
        &mut self,
        record: &AppRecord,
        slots: &[ContainerSlot],
        action: PlanAction,
        created: &mut HashMap<String, String>,
        networks: &HashMap<String, Network>,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        let app = record.name.as_str();
        let desired = |container: &str| {
            slots
                .iter()
                .find(|s| s.container == container)
                .and_then(|s| s.desired.as_ref())
                .ok_or_else(|| ReconcileError::NoImage {
                    container: container.to_owned(),
                })
        };
        match action {
            PlanAction::EnsureNetwork => self.ensure_network(app, networks).await,
            PlanAction::Remove {
                container,
                listed,
                why,
            } => {
                match &why {
                    RemoveWhy::Stray => {
                        tracing::info!(%app, container = %listed.name(), "removing a container the manifest no longer has");
                    }
                    RemoveWhy::Duplicate => {
                        tracing::info!(%app, container = %listed.name(), "removing a second container of the same slot");
                    }
                    RemoveWhy::Recreate(reason) => {
                        tracing::info!(%app, %container, %reason, "recreating");
                        sink.note(
                            Stage::Containers,
                            format!("{container}: recreating ({reason})"),
                        );
                    }
                    RemoveWhy::Uninstall => {
                        sink.note(Stage::Containers, format!("removing {container}"));
                    }
                }
                self.stop_remove(&listed, report).await
            }
            PlanAction::RemoveZombie {
                container,
                listed,
                zombie,
                counted,
            } => {
                if counted {
                    tracing::warn!(%app, %container, why = %zombie, "zombie: force-removing and recreating");
                    sink.note(
                        Stage::Containers,
                        format!("{container}: zombie ({zombie}); recreating"),
                    );
                    let mut rt = self.shared.runtime();
                    let e = rt.entry(app, &container);
                    e.failures += 1;
                    e.last_failure = Some(Failure::Zombie(zombie));
                    e.seen_running = false;
                } else {
                    tracing::warn!(%app, %container, why = %zombie, "zombie of a stopped app: removing it");
                }
                self.force_remove(&listed, report).await
            }
            PlanAction::CountExit { container, code } => {
                let mut rt = self.shared.runtime();
                let e = rt.entry(app, &container);
                e.failures += 1;
                e.last_failure = Some(Failure::Exited { code });
                e.seen_running = false;
                tracing::warn!(%app, %container, code, "container exited");
                Ok(())
            }
            PlanAction::Create { container } => {
                let d = desired(&container)?;
                // A dependency's network recreated (or not made yet after a reset): wait
                // for its own reconcile rather than fail the create in podman.
                for link in &record.links {
                    let network = labels::network_name(link);
                    if d.spec.networks.contains_key(&network) && !networks.contains_key(&network) {
                        return Err(ReconcileError::DependencyNetwork {
                            dependency: link.clone(),
                            network,
                        });
                    }
                }
                sink.note(Stage::Containers, format!("creating {container}"));
                let id = self.create(record, d, report).await?;
                created.insert(container, id);
                Ok(())
            }
            PlanAction::Start { container, id } => {
                let d = desired(&container)?;
                let Some(id) = id.or_else(|| created.remove(&container)) else {
                    return Err(ReconcileError::NoImage { container });
                };
                sink.note(Stage::Containers, format!("starting {container}"));
                self.start(app, d, &id, report).await
            }
            PlanAction::StopUnhealthy { container, id } => {
                let d = desired(&container)?;
                tracing::info!(%app, %container, "restarting an unhealthy container");
                sink.note(
                    Stage::Containers,
                    format!("{container}: unhealthy, restarting"),
                );
                self.shared.runtime().entry(app, &container).seen_running = false;
                if let Err(e) = self.shared.podman.stop_container(&id, d.grace).await {
                    tracing::warn!(%app, %container, error = %e, "stop failed");
                }
                Ok(())
            }
            PlanAction::Stop { container, listed } => {
                sink.note(Stage::Containers, format!("stopping {container}"));
                self.stop(app, &container, &listed, report).await
            }
            PlanAction::Wait { container, why } => {
                match why {
                    WaitWhy::Dependencies(on) => sink.note(
                        Stage::Containers,
                        format!("{container}: waiting for {}", on.join(", ")),
                    ),
                    WaitWhy::Backoff(_) => {
                        tracing::debug!(%app, %container, "restart backoff");
                    }
                    why => tracing::debug!(%app, %container, ?why, "waiting"),
                }
                Ok(())
            }
            PlanAction::MarkNoImage { container } => Err(ReconcileError::NoImage { container }),
            PlanAction::RemoveNetwork => {
                self.shared
                    .podman
                    .remove_network(&labels::network_name(app))
                    .await?;
                report.actions += 1;
                Ok(())
            }
            PlanAction::FinishUninstall { purge } => self.finish_uninstall(app, purge, sink).await,
        }
    }

    /// A purge also removes the app's images (current and previous release) that no other
    /// installed app uses. An image podman cannot remove (a container outside atoll uses
    /// it) stays, logged: the uninstall does not fail for it.
    async fn remove_unshared_images(&self, app: &str) {
        let Ok(Some(record)) = self.shared.store.get(app).await else {
            return;
        };
        let Ok(others) = self.shared.store.list().await else {
            return;
        };
        // An install still loading its images has not recorded their ids yet: it may need
        // one of these, so nothing is removed while one runs.
        if others
            .iter()
            .any(|o| o.name != app && !o.phase.is_prepared())
        {
            tracing::info!(%app, "an install is loading images; the purge keeps the app's images");
            return;
        }
        let used: std::collections::BTreeSet<&String> = others
            .iter()
            .filter(|o| o.name != app)
            .flat_map(|o| {
                o.images
                    .values()
                    .chain(o.previous.iter().flat_map(|p| p.images.values()))
            })
            .collect();
        let mine: std::collections::BTreeSet<&String> = record
            .images
            .values()
            .chain(record.previous.iter().flat_map(|p| p.images.values()))
            .collect();
        for id in mine.into_iter().filter(|id| !used.contains(id)) {
            match self.shared.podman.remove_image(id).await {
                Ok(()) => tracing::info!(%app, image = %id, "purge removed the app's image"),
                Err(e) => {
                    tracing::warn!(%app, image = %id, error = %e, "purge could not remove the app's image; it stays")
                }
            }
        }
    }

    /// What is reported is what exists: forget the app only when nothing of it is left.
    async fn finish_uninstall(
        &mut self,
        app: &str,
        purge: bool,
        sink: &ProgressSink,
    ) -> Result<(), ReconcileError> {
        let left = self.list(&[(labels::APP, app)]).await?;
        if let Some(l) = left.first() {
            return Err(ReconcileError::StillListed {
                name: l.name().to_owned(),
            });
        }
        if purge {
            self.remove_unshared_images(app).await;
            sink.note(Stage::Data, "deleting app data");
            let dir = self.shared.config.app_dir(app);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(DataError::Io {
                        op: "delete",
                        path: dir,
                        source,
                    }
                    .into())
                }
            }
        }
        if !purge {
            // Kept data says whose it is (listed by `kept_data`, reused by a reinstall).
            if let Ok(Some(record)) = self.shared.store.get(app).await {
                if let Some(source) = &record.release.source {
                    let dir = self.shared.config.app_dir(app);
                    if dir.is_dir() {
                        if let Err(e) = std::fs::write(dir.join(crate::ops::SOURCE_FILE), source) {
                            tracing::warn!(%app, error = %e, "could not note whose kept data this is");
                        }
                    }
                }
            }
        }
        crate::ops::failpoint::hit("uninstall:before-forget").await;
        self.shared.store.delete(app).await?;
        self.shared.runtime().forget(app);
        tracing::info!(%app, purge, "uninstalled");
        Ok(())
    }
}

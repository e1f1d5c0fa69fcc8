//! Stopping and removing: a stopped app (reverse start order, never started again), an
//! app being uninstalled (everything removed, then the record forgotten), and the stop
//! half of a restart.

use std::collections::HashMap;

use super::app::{by_container, ordered};
use super::{running_like, PassReport, Reconciler};
use crate::error::ReconcileError;
use crate::podman::types::{ListedContainer, Network};
use crate::progress::{ProgressSink, Stage};
use crate::store::AppRecord;
use crate::{labels, procfs};

impl Reconciler {
    pub(super) async fn stop_app(
        &mut self,
        record: &AppRecord,
        actual: Vec<ListedContainer>,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        let app = record.name.as_str();
        let mut groups = by_container(actual);
        let mut first_error = None;
        let mut order: Vec<String> = ordered(&record.release.manifest)
            .into_iter()
            .rev()
            .map(|c| c.name.clone())
            .collect();
        order.extend(
            groups
                .keys()
                .filter(|k| !order.contains(k))
                .cloned()
                .collect::<Vec<_>>(),
        );
        for name in order {
            for l in groups.remove(&name).unwrap_or_default() {
                let known = record
                    .release
                    .manifest
                    .containers
                    .iter()
                    .any(|c| c.name == name);
                let result = if !known {
                    self.stop_remove(&l, report).await
                } else if running_like(&l.state) {
                    if procfs::state(l.pid).alive() {
                        sink.note(Stage::Containers, format!("stopping {name}"));
                        self.stop(app, &name, &l, report).await
                    } else {
                        let conmon = self.conmon_pid(&l).await?;
                        if conmon.is_none_or(|p| !procfs::state(p).alive()) {
                            tracing::warn!(%app, container = %name, "zombie of a stopped app: removing it");
                            self.force_remove(&l, report).await
                        } else {
                            Ok(())
                        }
                    }
                } else {
                    Ok(())
                };
                if let Err(e) = result {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) async fn remove_app(
        &mut self,
        record: &AppRecord,
        actual: Vec<ListedContainer>,
        networks: &HashMap<String, Network>,
        purge: bool,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        let app = record.name.as_str();
        let mut groups = by_container(actual);
        let mut order: Vec<String> = ordered(&record.release.manifest)
            .into_iter()
            .rev()
            .map(|c| c.name.clone())
            .collect();
        order.extend(
            groups
                .keys()
                .filter(|k| !order.contains(k))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let mut first_error = None;
        for name in order {
            for l in groups.remove(&name).unwrap_or_default() {
                sink.note(Stage::Containers, format!("removing {name}"));
                if let Err(e) = self.stop_remove(&l, report).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let network = labels::network_name(app);
        if networks.contains_key(&network) {
            self.shared.podman.remove_network(&network).await?;
            report.actions += 1;
        }
        // What is reported is what exists: forget the app only when nothing of it is left.
        let left = self.list(&[(labels::APP, app)]).await?;
        if let Some(l) = left.first() {
            return Err(ReconcileError::Stuck {
                name: l.name().to_owned(),
                reason: "still listed after removal".to_owned(),
            });
        }
        if purge {
            sink.note(Stage::Data, "deleting app data");
            let dir = self.shared.config.app_dir(app);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(crate::error::DataError::Io {
                        op: "delete",
                        path: dir,
                        source,
                    }
                    .into())
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

impl Reconciler {
    /// Stop an app's running containers (reverse start order) and clear their backoff, so
    /// the next pass starts them again at once: a restart.
    pub(crate) async fn stop_for_restart(&mut self, app: &str) {
        let Ok(Some(record)) = self.shared.store.get(app).await else {
            return;
        };
        let Ok(list) = self.list(&[(labels::APP, app)]).await else {
            return;
        };
        let mut report = PassReport::default();
        for c in ordered(&record.release.manifest).into_iter().rev() {
            for l in list
                .iter()
                .filter(|l| l.label(labels::CONTAINER) == Some(c.name.as_str()))
            {
                if running_like(&l.state) && procfs::state(l.pid).alive() {
                    if let Err(e) = self.stop(app, &c.name, l, &mut report).await {
                        tracing::warn!(%app, container = %c.name, error = %e, "stop for restart failed");
                    }
                }
            }
        }
        self.shared.reset_backoff(app);
    }
}

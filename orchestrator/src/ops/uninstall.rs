//! `uninstall`: mark the app removed and let the loop stop and remove its containers and
//! network; the record goes only when nothing of it is left, so what `ps` reports is what
//! exists. Data stays unless `purge`.

use super::failpoint;
use super::wait::Target;
use crate::backup::Reason;
use crate::error::{UninstallError, WaitError};
use crate::orchestrator::Orchestrator;
use crate::progress::{Operation, ProgressSink, Stage};
use crate::store::{now_secs, Wanted};

impl Orchestrator {
    /// Uninstall an app; with `purge`, also delete its data dir (volumes and secrets).
    pub async fn uninstall(
        &self,
        name: &str,
        purge: bool,
        progress: &ProgressSink,
    ) -> Result<(), UninstallError> {
        let sink = progress.bind(name, Operation::Uninstall);
        let result = self.uninstall_inner(name, purge, &sink).await;
        sink.finish(
            &result,
            if purge {
                "uninstalled, data deleted"
            } else {
                "uninstalled, data kept"
            },
        );
        result
    }

    async fn uninstall_inner(
        &self,
        name: &str,
        purge: bool,
        sink: &ProgressSink,
    ) -> Result<(), UninstallError> {
        let shared = self.shared();
        let _lock = shared.lock_app(name).await;
        let mut record = shared
            .store
            .get(name)
            .await?
            .ok_or_else(|| UninstallError::NotInstalled(name.to_owned()))?;
        if !purge && record.phase.is_prepared() && !matches!(record.wanted, Wanted::Removed { .. })
        {
            // Uninstall keeps a last backup (the data dir stays too); purge keeps nothing.
            sink.emit(Stage::Backup, 2, "keeping a last backup of the app's data");
            match self
                .backup_locked(&record, Reason::Uninstall, false, sink)
                .await
            {
                Ok(b) => sink.note(
                    Stage::Backup,
                    format!("last backup {} kept", &b.id().to_hex()[..12]),
                ),
                Err(e) => {
                    tracing::warn!(app = %name, error = %e, "no last backup before the uninstall; the data dir is kept");
                    sink.note(
                        Stage::Backup,
                        format!("no last backup ({e}); the data dir is kept"),
                    );
                }
            }
        }
        record.wanted = Wanted::Removed { purge };
        record.updated_at = now_secs();
        shared.store.put(&record).await?;
        failpoint::hit("uninstall:after-record").await;
        sink.emit(Stage::Containers, 10, "stopping and removing containers");
        let report = self.pass(Some((name.to_owned(), sink.clone()))).await;
        if shared.store.get(name).await?.is_none() {
            return Ok(());
        }
        if let Some(error) = report.error_for(name) {
            return Err(UninstallError::Incomplete {
                app: name.to_owned(),
                reason: WaitError::Blocked {
                    error: error.clone(),
                },
            });
        }
        let base = self.baseline(name);
        self.wait(
            name,
            Target::Removed,
            shared.config.ready_timeout,
            &base,
            sink,
            (50, 99),
        )
        .await
        .map_err(|reason| UninstallError::Incomplete {
            app: name.to_owned(),
            reason,
        })
    }
}

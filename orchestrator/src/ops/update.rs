//! `update`: record the new release (phase `preparing`, the old one kept as `previous`, the
//! rollback target; the old containers keep running untouched), load the new images, record
//! their ids (`prepared`: now the loop replaces the containers), and wait for it to become ready
//! within the update window. If it does not, desired state goes back to the old release and
//! the loop recreates the old containers. Volumes and secrets belong to the install name, so
//! both versions see the same data.

use std::time::Duration;

use super::failpoint;
use super::wait::Target;
use crate::backup::Reason;
use crate::error::UpdateError;
use crate::orchestrator::Orchestrator;
use crate::progress::{Operation, ProgressSink, Stage};
use crate::release::Release;
use crate::secrets::Credential;
use crate::store::{now_secs, AppRecord, Phase, Previous, Wanted};

/// What `update` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateReport {
    /// The app.
    pub name: String,
    /// Version before.
    pub from: semver::Version,
    /// Version now.
    pub to: semver::Version,
    /// `show: true` secrets not shown before (new in this version): shown once.
    pub credentials: Vec<Credential>,
}

/// How long a new release gets to become ready: start period + (retries + 2) intervals +
/// timeouts of its slowest container, at least 30 s.
pub(crate) fn derived_window(release: &Release) -> Duration {
    release
        .manifest
        .containers
        .iter()
        .filter_map(|c| c.health.as_ref())
        .map(|h| {
            let n = h.retries.max(1) + 2;
            h.start_period.as_std() + (h.interval.as_std() + h.timeout.as_std()) * n
        })
        .max()
        .unwrap_or_default()
        .max(Duration::from_secs(30))
}

impl Orchestrator {
    /// Update an app to a newer release; rolls back automatically when the new version does
    /// not become ready within the update window.
    pub async fn update(
        &self,
        name: &str,
        release: Release,
        progress: &ProgressSink,
    ) -> Result<UpdateReport, UpdateError> {
        self.update_to(name, release, false, progress).await
    }

    /// [`Orchestrator::update`], and with `allow_older` also to an older release (the
    /// operator's explicit rollback to an earlier version). Going down works the same way:
    /// the data is backed up first and put back if the older version fails; but the data
    /// a newer version migrated may not be readable by the older one.
    pub async fn update_to(
        &self,
        name: &str,
        release: Release,
        allow_older: bool,
        progress: &ProgressSink,
    ) -> Result<UpdateReport, UpdateError> {
        let sink = progress.bind(name, Operation::Update);
        let result = self.update_inner(name, release, allow_older, &sink).await;
        sink.finish(&result, "updated");
        result
    }

    async fn update_inner(
        &self,
        name: &str,
        release: Release,
        allow_older: bool,
        sink: &ProgressSink,
    ) -> Result<UpdateReport, UpdateError> {
        let shared = self.shared();
        let _lock = shared.lock_app(name).await;
        sink.emit(Stage::Verify, 1, "checking the release");
        let mut record = shared
            .store
            .get(name)
            .await?
            .ok_or_else(|| UpdateError::NotInstalled(name.to_owned()))?;
        if matches!(record.wanted, Wanted::Removed { .. }) {
            return Err(UpdateError::Removing(name.to_owned()));
        }
        let from = record.release.version().clone();
        let to = release.version().clone();
        if to == from || (to < from && !allow_older) {
            return Err(UpdateError::NotNewer {
                app: name.to_owned(),
                current: from,
                offered: to,
            });
        }
        release.validate()?;
        // The values given at install stay; a new version's new required setting (which
        // has none) refuses the update before anything changes.
        crate::settings::carry(&release.manifest, &record.settings)?;
        let ports = super::install::host_ports(&release, &record.ports);
        for other in shared.store.list().await? {
            if other.name == name {
                continue;
            }
            let theirs = super::install::host_ports(&other.release, &other.ports);
            if let Some((port, _)) = ports.iter().find(|p| theirs.contains(p)) {
                return Err(UpdateError::PortTaken {
                    port: *port,
                    app: other.name,
                });
            }
        }
        shared.service.ensure().await?;
        // The data as the old version left it, consistent: a rollback puts it back.
        sink.emit(
            Stage::Backup,
            2,
            "backing up the app's data before the update",
        );
        let backup = self
            .backup_locked(&record, Reason::PreUpdate, true, sink)
            .await
            .map_err(|e| UpdateError::Backup {
                app: name.to_owned(),
                source: Box::new(e),
            })?;
        let previous = Previous {
            release: record.release.clone(),
            images: record.images.clone(),
            backup: Some(backup.id().to_hex()),
        };
        record.release = release;
        record.images = Default::default();
        record.previous = Some(Box::new(previous));
        record.phase = Phase::Preparing;
        record.updated_at = now_secs();
        shared.store.put(&record).await?;
        failpoint::hit("update:after-record").await;
        self.finish_update(record, sink).await
    }

    /// Finish an update an earlier process started and a crash interrupted.
    pub(super) async fn resume_update(
        &self,
        name: &str,
        sink: &ProgressSink,
    ) -> Result<UpdateReport, UpdateError> {
        let _lock = self.shared().lock_app(name).await;
        let record = self
            .shared()
            .store
            .get(name)
            .await?
            .ok_or_else(|| UpdateError::NotInstalled(name.to_owned()))?;
        if record.previous.is_none() {
            let v = record.release.version().clone();
            return Ok(UpdateReport {
                name: name.to_owned(),
                from: v.clone(),
                to: v,
                credentials: Vec::new(),
            });
        }
        self.finish_update(record, sink).await
    }

    /// From a record that holds the new release and `previous` on: load the new images if
    /// they are not recorded yet (`preparing`), switch, and prove the new version within the
    /// update window, or roll back.
    async fn finish_update(
        &self,
        mut record: AppRecord,
        sink: &ProgressSink,
    ) -> Result<UpdateReport, UpdateError> {
        let shared = self.shared();
        let name = record.name.clone();
        let name = name.as_str();
        let Some(previous) = record.previous.clone() else {
            return Err(UpdateError::NotInstalled(name.to_owned()));
        };
        let from = previous.release.version().clone();
        let to = record.release.version().clone();
        let mut credentials = Vec::new();
        if record.phase == Phase::Preparing {
            let images = match self
                .prepare::<UpdateError>(name, &record.release, sink, (5, 40))
                .await
            {
                Ok((images, values)) => {
                    let app_dir = shared.config.app_dir(name);
                    credentials =
                        crate::secrets::credentials(&record.release.manifest, &app_dir, &values).0;
                    images
                }
                Err(e) => {
                    // Nothing was changed for the new release: put the old one back.
                    record.release = previous.release;
                    record.images = previous.images;
                    record.previous = None;
                    record.phase = Phase::Prepared;
                    record.updated_at = now_secs();
                    shared.store.put(&record).await?;
                    return Err(e);
                }
            };
            failpoint::hit("update:after-images").await;
            record.images = images;
            record.phase = Phase::Prepared;
            record.updated_at = now_secs();
            shared.store.put(&record).await?;
            failpoint::hit("update:after-prepared").await;
        }
        let window = shared
            .config
            .update_window
            .unwrap_or_else(|| derived_window(&record.release));
        let report = UpdateReport {
            name: name.to_owned(),
            from: from.clone(),
            to: to.clone(),
            credentials,
        };
        let app_dir = shared.config.app_dir(name);
        if record.wanted != Wanted::Running {
            // Stopped apps switch release now and start with it later.
            self.pass(None).await;
            record.previous = None;
            shared.store.put(&record).await?;
            crate::secrets::mark_shown(&app_dir, &report.credentials)?;
            return Ok(report);
        }
        shared.reset_backoff(name);
        let base = self.baseline(name);
        sink.emit(Stage::Containers, 50, format!("replacing {from} with {to}"));
        self.pass(Some((name.to_owned(), sink.clone()))).await;
        failpoint::hit("update:after-containers").await;
        let outcome = self
            .wait(name, Target::Ready, window, &base, sink, (60, 90))
            .await;
        let mut record = shared
            .store
            .get(name)
            .await?
            .ok_or_else(|| UpdateError::NotInstalled(name.to_owned()))?;
        match outcome {
            Ok(()) => {
                record.previous = None;
                record.updated_at = now_secs();
                shared.store.put(&record).await?;
                crate::secrets::mark_shown(&app_dir, &report.credentials)?;
                Ok(report)
            }
            Err(reason) => {
                tracing::warn!(app = %name, %from, %to, %reason, "update failed; rolling back");
                sink.emit(
                    Stage::Rollback,
                    90,
                    format!("{to} failed ({reason}); rolling back to {from}"),
                );
                self.roll_back(&mut record, reason, to, sink).await
            }
        }
    }

    async fn roll_back(
        &self,
        record: &mut AppRecord,
        reason: crate::error::WaitError,
        failed: semver::Version,
        sink: &ProgressSink,
    ) -> Result<UpdateReport, UpdateError> {
        let shared = self.shared();
        let name = record.name.clone();
        let Some(previous) = record.previous.take() else {
            return Err(UpdateError::RollbackFailed {
                app: name,
                reason: reason.clone(),
                rollback: reason,
            });
        };
        let restored = previous.release.version().clone();
        record.release = previous.release;
        record.images = previous.images;
        record.updated_at = now_secs();
        if let Some(id) = &previous.backup {
            // The new version may have changed the data (a migration): stop everything,
            // put the pre-update backup back, then start the old version on it.
            record.wanted = Wanted::Stopped;
            shared.store.put(record).await?;
            let base = self.baseline(&name);
            sink.emit(
                Stage::Rollback,
                91,
                format!("stopping {failed} to restore the data"),
            );
            self.pass(Some((name.clone(), sink.clone()))).await;
            let grace: std::time::Duration = record
                .release
                .manifest
                .containers
                .iter()
                .map(crate::spec::grace)
                .sum();
            let stopped = self
                .wait(
                    &name,
                    Target::Stopped,
                    grace + Duration::from_secs(60),
                    &base,
                    sink,
                    (91, 91),
                )
                .await;
            let restored_data = match stopped {
                Ok(()) => {
                    sink.emit(
                        Stage::Rollback,
                        92,
                        format!("restoring the data of {restored} from backup {}", &id[..12]),
                    );
                    self.restore_locked(id).await
                }
                Err(reason) => Err(crate::error::BackupError::NotReached {
                    app: name.clone(),
                    what: "stop for the data to be restored",
                    reason,
                }),
            };
            if let Err(e) = restored_data {
                // Leave it stopped: the old version must not start on data it may not read.
                tracing::error!(app = %name, backup = %id, error = %e, "rollback could not restore the data");
                return Err(UpdateError::DataNotRestored {
                    app: name,
                    failed,
                    reason,
                    backup: id.clone(),
                    error: Box::new(e),
                });
            }
            record.wanted = Wanted::Running;
            record.updated_at = now_secs();
        }
        shared.store.put(record).await?;
        shared.reset_backoff(&name);
        let base = self.baseline(&name);
        self.pass(Some((name.clone(), sink.clone()))).await;
        match self
            .wait(
                &name,
                Target::Ready,
                shared.config.ready_timeout,
                &base,
                sink,
                (92, 99),
            )
            .await
        {
            Ok(()) => Err(UpdateError::RolledBack {
                app: name,
                failed,
                restored,
                reason,
            }),
            Err(rollback) => Err(UpdateError::RollbackFailed {
                app: name,
                reason,
                rollback,
            }),
        }
    }
}

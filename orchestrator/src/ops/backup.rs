//! `backup`, `restore`, and the backups an update, a rollback and an uninstall make.
//!
//! A backup is consistent: an app that runs is stopped for the snapshot and started again,
//! unless a container declares `backup.command`, which then runs (`podman exec`) in each
//! such container while the app keeps running. A restore never replaces the data of a
//! running app, says what it replaces, and first backs up the data it replaces
//! (`pre-restore`), so that can be got back.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::wait::Target;
use crate::backup::{
    self, BackupRecord, BackupStore, BackupSummary, Consistency, Reason, Replaces,
};
use crate::error::BackupError;
use crate::orchestrator::Orchestrator;
use crate::progress::{Operation, ProgressSink, Stage};
use crate::spec;
use crate::store::{now_secs, AppRecord, Wanted};

/// What `restore` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The app.
    pub app: String,
    /// The backup put back.
    pub backup: String,
    /// What it replaced.
    pub replaced: Replaces,
    /// The backup of the replaced data (none when there was no data).
    pub pre_restore: Option<String>,
}

/// Where the release facts of a backup come from.
struct Meta {
    app: String,
    source: Option<String>,
    app_id: String,
    version: semver::Version,
    manifest_hash: atoll_registry::Hash,
    settings: std::collections::BTreeMap<String, String>,
    ports: std::collections::BTreeMap<u16, u16>,
}

impl Meta {
    fn of_app(r: &AppRecord) -> Self {
        Self {
            app: r.name.clone(),
            source: r.release.source.clone(),
            app_id: r.release.manifest.id.clone(),
            version: r.release.version().clone(),
            manifest_hash: r.release.manifest_hash,
            settings: r.settings.clone(),
            ports: r.ports.clone(),
        }
    }

    fn of_backup(r: &BackupRecord) -> Self {
        Self {
            app: r.app.clone(),
            source: r.source.clone(),
            app_id: r.app_id.clone(),
            version: r.version.clone(),
            manifest_hash: r.manifest_hash,
            settings: r.settings.clone(),
            ports: r.ports.clone(),
        }
    }
}

impl Orchestrator {
    /// The node's backup store.
    pub fn backups(&self) -> &Arc<BackupStore> {
        &self.shared().backups
    }

    /// Every backup, newest first, saying whether its app is installed.
    pub async fn list_backups(&self) -> Result<Vec<BackupSummary>, BackupError> {
        let installed: Vec<String> = self
            .shared()
            .store
            .list()
            .await?
            .into_iter()
            .filter(|r| !matches!(r.wanted, Wanted::Removed { .. }))
            .map(|r| r.name)
            .collect();
        let store = self.backups().clone();
        let records = blocking(move || store.records()).await?;
        Ok(records
            .iter()
            .map(|r| BackupSummary::of(r, installed.contains(&r.app)))
            .collect())
    }

    /// Back up an installed app now.
    pub async fn backup(
        &self,
        name: &str,
        reason: Reason,
        progress: &ProgressSink,
    ) -> Result<BackupSummary, BackupError> {
        let sink = progress.bind(name, Operation::Backup);
        let result = async {
            let _lock = self.shared().lock_app(name).await;
            let record = self
                .shared()
                .store
                .get(name)
                .await?
                .ok_or_else(|| BackupError::NotInstalled(name.to_owned()))?;
            if matches!(record.wanted, Wanted::Removed { .. }) {
                return Err(BackupError::Removing(name.to_owned()));
            }
            let b = self.backup_locked(&record, reason, true, &sink).await?;
            Ok(BackupSummary::of(&b, true))
        }
        .await;
        sink.finish(&result, "backed up");
        result
    }

    /// Back up an app whose lock the caller holds. A running app is stopped for the
    /// snapshot (no `backup.command`) and, when `restart`, started again whatever the
    /// snapshot's outcome.
    pub(crate) async fn backup_locked(
        &self,
        record: &AppRecord,
        reason: Reason,
        restart: bool,
        sink: &ProgressSink,
    ) -> Result<BackupRecord, BackupError> {
        let shared = self.shared();
        let name = record.name.as_str();
        let running = record.wanted == Wanted::Running;
        let hooks: Vec<_> = record
            .release
            .manifest
            .containers
            .iter()
            .filter_map(|c| c.backup.as_ref().map(|b| (c.name.clone(), b.clone())))
            .collect();
        let consistency = if !running {
            Consistency::NotRunning
        } else if !hooks.is_empty() {
            for (container, hook) in &hooks {
                sink.note(
                    Stage::Backup,
                    format!("running the backup command of {container}"),
                );
                self.run_hook(name, container, &hook.command, hook.timeout())
                    .await?;
            }
            Consistency::Hook
        } else {
            sink.note(Stage::Backup, "stopping the app for a consistent snapshot");
            self.set_wanted(record, Wanted::Stopped).await?;
            let grace: Duration = record
                .release
                .manifest
                .containers
                .iter()
                .map(spec::grace)
                .sum();
            let base = self.baseline(name);
            self.pass(Some((name.to_owned(), sink.clone()))).await;
            if let Err(reason) = self
                .wait(
                    name,
                    Target::Stopped,
                    grace + Duration::from_secs(60),
                    &base,
                    sink,
                    (0, 0),
                )
                .await
            {
                self.set_wanted(record, Wanted::Running).await?;
                self.pass(None).await;
                return Err(BackupError::NotReached {
                    app: name.to_owned(),
                    what: "stop for the snapshot",
                    reason,
                });
            }
            Consistency::Stopped
        };
        sink.note(Stage::Backup, "copying the data");
        let taken = self
            .snapshot(Meta::of_app(record), reason, consistency)
            .await;
        if consistency == Consistency::Stopped && restart {
            sink.note(Stage::Backup, "starting the app again");
            self.set_wanted(record, Wanted::Running).await?;
            shared.reset_backoff(name);
            let base = self.baseline(name);
            self.pass(Some((name.to_owned(), sink.clone()))).await;
            if let Err(reason) = self
                .wait(
                    name,
                    Target::Ready,
                    shared.config.ready_timeout,
                    &base,
                    sink,
                    (0, 0),
                )
                .await
            {
                tracing::warn!(app = %name, %reason, "the app did not become ready again after its backup");
                if taken.is_ok() {
                    return Err(BackupError::NotReached {
                        app: name.to_owned(),
                        what: "start again after the backup (the backup itself is stored)",
                        reason,
                    });
                }
            }
        }
        let taken = taken?;
        sink.note(
            Stage::Backup,
            format!(
                "backup {} stored: {} files, {} bytes",
                &taken.id().to_hex()[..12],
                taken.file_count(),
                taken.data_bytes()
            ),
        );
        tracing::info!(app = %name, id = %taken.id(), reason = reason.as_str(), files = taken.file_count(), bytes = taken.data_bytes(), "backup stored");
        Ok(taken)
    }

    /// Write the record's `wanted` (keeping everything else as stored now).
    async fn set_wanted(&self, record: &AppRecord, wanted: Wanted) -> Result<(), BackupError> {
        let store = &self.shared().store;
        let mut now = store
            .get(&record.name)
            .await?
            .unwrap_or_else(|| record.clone());
        now.wanted = wanted;
        now.updated_at = now_secs();
        store.put(&now).await?;
        Ok(())
    }

    async fn run_hook(
        &self,
        app: &str,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<(), BackupError> {
        let mut cmd = self.shared().host.command();
        cmd.args(["exec", &crate::labels::container_name(app, container)])
            .args(command)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let hook = |reason: String| BackupError::Hook {
            container: container.to_owned(),
            reason,
        };
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .map_err(|_| hook(format!("no end within {timeout:?}")))?
            .map_err(|e| hook(e.to_string()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(hook(format!(
                "{}: {}",
                out.status,
                err.trim().chars().take(2000).collect::<String>()
            )));
        }
        Ok(())
    }

    /// Read the app's data dir into a stored backup. Nothing is listed unless all of it
    /// was stored; a failure removes the blobs it added.
    async fn snapshot(
        &self,
        meta: Meta,
        reason: Reason,
        consistency: Consistency,
    ) -> Result<BackupRecord, BackupError> {
        let shared = self.shared();
        let host = shared.host.clone();
        let app_dir = shared.config.app_dir(&meta.app);
        let store = shared.backups.clone();
        blocking(move || {
            let _lock = store.lock();
            let mut added = Vec::new();
            let result =
                backup::snapshot_data(&host, &app_dir, &store, &mut added).and_then(|snap| {
                    let record = BackupRecord {
                        format: backup::FORMAT,
                        app: meta.app,
                        source: meta.source,
                        app_id: meta.app_id,
                        version: meta.version,
                        manifest_hash: meta.manifest_hash,
                        reason,
                        created_at: now_secs(),
                        consistency,
                        settings: meta.settings,
                        ports: meta.ports,
                        files: snap.files,
                        secrets: snap.secrets,
                        skipped: snap.skipped,
                    };
                    record.check("the new backup")?;
                    store.save(&record)?;
                    Ok(record)
                });
            if result.is_err() {
                store.discard(&added);
            }
            result
        })
        .await
    }

    /// What restoring `id` would replace, without changing anything.
    pub async fn restore_preview(&self, id: &str) -> Result<(BackupRecord, Replaces), BackupError> {
        let store = self.backups().clone();
        let id = id.to_owned();
        let record = blocking(move || store.get(&id)).await?;
        let host = self.shared().host.clone();
        let app_dir = self.shared().config.app_dir(&record.app);
        let current = blocking(move || backup::current_data(&host, &app_dir)).await?;
        let replaces = Replaces::new(current, &record);
        Ok((record, replaces))
    }

    /// Put a backup's data back. The app must be stopped, or not installed (then its data
    /// dir is filled before the first start: install it afterwards). The data it replaces
    /// is backed up first (`pre-restore`).
    pub async fn restore(
        &self,
        id: &str,
        progress: &ProgressSink,
    ) -> Result<RestoreReport, BackupError> {
        let (record, _) = self.restore_preview(id).await?;
        let sink = progress.bind(&record.app, Operation::Restore);
        let result = self.restore_inner(record, &sink).await;
        sink.finish(&result, "restored");
        result
    }

    async fn restore_inner(
        &self,
        record: BackupRecord,
        sink: &ProgressSink,
    ) -> Result<RestoreReport, BackupError> {
        let shared = self.shared();
        let name = record.app.clone();
        let _lock = shared.lock_app(&name).await;
        let installed = shared.store.get(&name).await?;
        if let Some(app) = &installed {
            if matches!(app.wanted, Wanted::Removed { .. }) {
                return Err(BackupError::Removing(name));
            }
            let runs = self
                .status(&name)
                .await
                .map(|s| s.containers.iter().any(|c| c.is_running()))
                .unwrap_or(true);
            if app.wanted == Wanted::Running || runs {
                return Err(BackupError::Running { app: name });
            }
        }
        sink.emit(Stage::Backup, 5, "counting the data the backup replaces");
        let host = shared.host.clone();
        let app_dir = shared.config.app_dir(&name);
        let current = {
            let (h, d) = (host.clone(), app_dir.clone());
            blocking(move || backup::current_data(&h, &d)).await?
        };
        let replaced = Replaces::new(current.clone(), &record);
        let pre_restore =
            if current.files > 0 || current.secrets > 0 || app_dir.join("volumes").is_dir() {
                sink.emit(
                    Stage::Backup,
                    10,
                    "backing up the data it replaces (pre-restore)",
                );
                let meta = match &installed {
                    Some(a) => Meta::of_app(a),
                    None => Meta::of_backup(&record),
                };
                let b = self
                    .snapshot(meta, Reason::PreRestore, Consistency::NotRunning)
                    .await?;
                Some(b.id().to_hex())
            } else {
                None
            };
        sink.emit(
            Stage::Data,
            40,
            format!(
                "replacing {} files ({} bytes) with the backup's {} files ({} bytes)",
                current.files,
                current.bytes,
                record.file_count(),
                record.data_bytes()
            ),
        );
        let store = shared.backups.clone();
        let r = record.clone();
        blocking(move || backup::restore_data(&host, &app_dir, &r, &store)).await?;
        if let Some(mut app) = installed {
            // The settings the data was made with, as far as this release declares them
            // (its templated files are rendered from them and the restored secrets).
            let declared: Vec<&str> = app
                .release
                .manifest
                .settings
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let kept: std::collections::BTreeMap<String, String> = record
                .settings
                .iter()
                .filter(|(k, _)| declared.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if kept != app.settings {
                app.settings = kept;
                app.updated_at = now_secs();
                shared.store.put(&app).await?;
            }
        }
        tracing::info!(app = %name, backup = %record.id(), ?pre_restore, "backup restored");
        Ok(RestoreReport {
            app: name,
            backup: record.id().to_hex(),
            replaced,
            pre_restore,
        })
    }

    /// Restore the pre-update backup `id` while the caller holds the app's lock and the
    /// app is stopped (an update's rollback).
    pub(crate) async fn restore_locked(&self, id: &str) -> Result<(), BackupError> {
        let shared = self.shared();
        let store = shared.backups.clone();
        let host = shared.host.clone();
        let id = id.to_owned();
        let base = shared.config.data_dir.clone();
        blocking(move || {
            let record = store.get(&id)?;
            let app_dir = base.join("apps").join(&record.app);
            backup::restore_data(&host, &app_dir, &record, &store)
        })
        .await
    }

    /// Delete a backup (and the blobs no other backup holds).
    pub async fn delete_backup(&self, id: &str) -> Result<BackupSummary, BackupError> {
        let store = self.backups().clone();
        let id = id.to_owned();
        blocking(move || {
            let r = store.get(&id)?;
            store.delete(&r)?;
            Ok(BackupSummary::of(&r, false))
        })
        .await
    }

    /// Keep the newest `keep` automatic (scheduled, pre-update) backups of `app`; delete
    /// the older ones. Manual, uninstall and pre-restore backups are kept until deleted.
    pub async fn prune_backups(&self, app: &str, keep: usize) -> Result<usize, BackupError> {
        let store = self.backups().clone();
        let app = app.to_owned();
        blocking(move || {
            let old: Vec<_> = store
                .records()?
                .into_iter()
                .filter(|r| r.app == app && r.reason.is_automatic())
                .skip(keep)
                .collect();
            for r in &old {
                store.delete(r)?;
            }
            Ok(old.len())
        })
        .await
    }
}

/// Run blocking backup I/O off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(BackupError::Tool {
            what: "backup task".into(),
            detail: e.to_string(),
        })
    })
}

//! Backups on the node: the API's and the CLI's backup operations on the embedded
//! orchestrator, the disaster-recovery restore of an app this node does not have
//! (installed from the catalog after its data is back), and the schedule
//! (`[backups] every`, `keep`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use atoll_orchestrator::backup::{archive, BackupRecord, Reason, Replaces};
use atoll_orchestrator::{BackupError, InstallRequest, Orchestrator, ProgressSink};
use atoll_registry::AppRef;
use serde_json::{json, Value};

use super::config::BackupsSection;
use super::runtime::{forward_progress, install_name, NodeApps};
use crate::api::jobs::JobHandle;

/// A backup as the API and the CLI show it: its summary, and what restoring it replaces.
pub fn describe(record: &BackupRecord, replaces: Option<&Replaces>, installed: bool) -> Value {
    let s = atoll_orchestrator::backup::BackupSummary::of(record, installed);
    let mut v = json!(s);
    if let Some(r) = replaces {
        v["replaces"] = json!(r);
    }
    v["skipped"] = json!(record.skipped);
    v
}

impl NodeApps {
    /// The orchestrator (backups are its).
    pub fn orchestrator(&self) -> &Orchestrator {
        &self.orch
    }

    /// Back up an installed app (a job).
    pub async fn backup_job(&self, app: AppRef, job: JobHandle) {
        let name = install_name(&app);
        let (sink, forward) = forward_progress(&job, Arc::new(std::sync::atomic::AtomicU8::new(0)));
        let result = self.orch.backup(&name, Reason::Manual, &sink).await;
        drop(sink);
        let _ = forward.await;
        match result {
            Ok(b) => job.succeed(format!(
                "backup {} of {app}: {} files, {} bytes ({})",
                b.id,
                b.files,
                b.bytes,
                match b.consistency {
                    atoll_orchestrator::backup::Consistency::Hook =>
                        "made by its backup command while it ran",
                    atoll_orchestrator::backup::Consistency::Stopped =>
                        "stopped for the snapshot and started again",
                    atoll_orchestrator::backup::Consistency::NotRunning => "it was not running",
                }
            )),
            Err(e) => job.fail(e.to_string()),
        }
    }

    /// Restore a backup (a job). An installed app must be stopped; an app this node does
    /// not have is installed from the catalog (its head must be the backed-up version and
    /// pass the guard: `checked_sequence`) after its data is back.
    pub async fn restore_job(&self, id: String, checked_sequence: Option<u64>, job: JobHandle) {
        let (sink, forward) = forward_progress(&job, Arc::new(std::sync::atomic::AtomicU8::new(0)));
        let result = self.restore(&id, checked_sequence, &sink, &job).await;
        drop(sink);
        let _ = forward.await;
        match result {
            Ok(msg) => job.succeed(msg),
            Err(e) => job.fail(format!("{e:#}")),
        }
    }

    async fn restore(
        &self,
        id: &str,
        checked: Option<u64>,
        sink: &ProgressSink,
        job: &JobHandle,
    ) -> Result<String> {
        let (record, _) = self.orch.restore_preview(id).await?;
        let installed = self.orch.status(&record.app).await.is_ok();
        if installed {
            let r = self.orch.restore(id, sink).await?;
            return Ok(restored_message(&record, &r));
        }
        // Disaster recovery: the app comes from the catalog, the data from the backup.
        let source = record.source.clone().with_context(|| {
            format!(
                "backup {id} is of {:?}, which was installed from a local app dir, not the \
                 catalog: install it, stop it, then restore",
                record.app
            )
        })?;
        let app: AppRef = source
            .parse()
            .with_context(|| format!("backup {id} names app {source:?}"))?;
        let (entry, manifest) = self.head(&app).await?;
        anyhow::ensure!(
            manifest.version == record.version,
            "the catalog offers {app} {} and the backup is of {}: install {} first, stop it, \
             then restore (the app takes its data over from the older version when it starts)",
            manifest.version,
            record.version,
            manifest.version
        );
        match checked {
            Some(seq) if seq == entry.sequence => {}
            _ => anyhow::bail!(
                "internal: this restore did not pass the install guard for {app}; nothing was changed"
            ),
        }
        anyhow::ensure!(
            install_name(&app) == record.app,
            "backup {id} is of install {:?}, not of {app}",
            record.app
        );
        // Its dependencies must be installed (it joins their networks): checked before
        // the data is put back.
        let links = self.links(&app, &manifest).await?;
        let r = self.orch.restore(id, sink).await?;
        let floor = std::sync::atomic::AtomicU8::new(0);
        let release = self.release(&entry, manifest, job, &floor).await?;
        let mut request = InstallRequest::new(release).name(&record.app);
        for (k, v) in &record.settings {
            request = request.setting(k, v);
        }
        // The host ports the backed-up install used.
        request.ports = record.ports.clone();
        for link in &links {
            request = request.link(link);
        }
        let report = self
            .orch
            .install(request, sink)
            .await
            .with_context(|| {
                format!(
                    "the data of backup {id} is in place, but installing {app} failed: install it again to use it"
                )
            })?;
        Ok(format!(
            "{}; {app} {} installed on it and running",
            restored_message(&record, &r),
            report.version
        ))
    }
}

fn restored_message(record: &BackupRecord, r: &atoll_orchestrator::RestoreReport) -> String {
    let c = &r.replaced.current;
    let mut msg = format!(
        "restored backup {} of {} {} (made at {}): replaced {} files, {} bytes (newest change at {})",
        r.backup,
        record.app,
        record.version,
        record.created_at,
        c.files,
        c.bytes,
        c.newest_mtime.map_or("-".to_owned(), |m| m.to_string())
    );
    if let Some(pre) = &r.pre_restore {
        msg.push_str(&format!("; the replaced data is in backup {pre}"));
    }
    msg
}

/// Map a backup error to the API's answer.
pub fn api_error(e: &BackupError) -> crate::api::ApiError {
    use crate::api::ApiError;
    match e {
        BackupError::NotFound(_) | BackupError::NotInstalled(_) => {
            ApiError::not_found(e.to_string())
        }
        BackupError::Running { .. } | BackupError::Removing(_) | BackupError::WrongApp { .. } => {
            ApiError::conflict(e.to_string())
        }
        BackupError::Invalid { .. } => ApiError::bad_request(e.to_string()),
        _ => ApiError::internal(e),
    }
}

/// Export a backup to `out` (blocking).
pub fn export_blocking(
    orch: &Orchestrator,
    id: &str,
    out: impl std::io::Write,
) -> Result<u64, BackupError> {
    let record = orch.backups().get(id)?;
    archive::export(orch.backups(), &record, out)
}

/// Import an export file (blocking).
pub fn import_blocking(orch: &Orchestrator, file: &Path) -> Result<BackupRecord, BackupError> {
    let f = std::fs::File::open(file).map_err(|e| BackupError::Io {
        op: "open",
        path: file.to_owned(),
        source: e,
    })?;
    archive::import(orch.backups(), std::io::BufReader::new(f))
}

/// The schedule: every minute, back up each installed app whose newest backup is older
/// than `every`, then keep its newest `keep` automatic backups. Runs until aborted.
pub async fn schedule(orch: Orchestrator, cfg: BackupsSection) {
    let Some(every) = cfg.every_duration() else {
        return;
    };
    let tick = every
        .min(Duration::from_secs(60))
        .max(Duration::from_secs(1));
    loop {
        tokio::time::sleep(tick).await;
        if let Err(e) = scheduled_pass(&orch, every, cfg.keep).await {
            tracing::warn!(error = %e, "scheduled backups");
        }
    }
}

async fn scheduled_pass(
    orch: &Orchestrator,
    every: Duration,
    keep: usize,
) -> Result<(), BackupError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let backups = orch.list_backups().await?;
    let apps = orch.ps().await.unwrap_or_default();
    for app in apps.iter().filter(|a| a.wanted != "removed") {
        let newest = backups
            .iter()
            .filter(|b| b.app == app.name)
            .map(|b| b.created_at)
            .max();
        if newest.is_some_and(|t| now.saturating_sub(t) < every.as_secs()) {
            continue;
        }
        match orch
            .backup(&app.name, Reason::Scheduled, &ProgressSink::none())
            .await
        {
            Ok(b) => {
                tracing::info!(app = %app.name, id = %b.id, bytes = b.bytes, "scheduled backup")
            }
            Err(e) => tracing::warn!(app = %app.name, error = %e, "scheduled backup failed"),
        }
        let pruned = orch.prune_backups(&app.name, keep).await?;
        if pruned > 0 {
            tracing::info!(app = %app.name, pruned, keep, "old automatic backups deleted");
        }
    }
    Ok(())
}

/// Shared handle for the API.
pub type Backups = Arc<NodeApps>;

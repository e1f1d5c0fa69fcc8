//! Finishing what a crash interrupted. Every operation writes its record before it creates
//! anything, so desired state says what is left to do:
//!
//! * a `preparing` record without `previous`: an install whose images were not loaded (or
//!   not recorded) yet: load them and finish the install (undone if it fails);
//! * a record with `previous`: an update not yet proven: load the new images if they were
//!   not recorded yet, then wait for the new version within the update window and keep it,
//!   or roll back to `previous`;
//! * `wanted = removed`: an uninstall: the loop finishes it by itself.

use std::collections::BTreeMap;

use crate::error::{DataError, ImageError, InstallError, UpdateError};
use crate::orchestrator::Orchestrator;
use crate::progress::{Operation, ProgressSink, Stage};
use crate::release::Release;
use crate::secrets::SecretString;
use crate::store::{Phase, Wanted};
use crate::{images, secrets, volumes};

/// An interrupted operation that [`Orchestrator::resume`] finished, and how it ended.
#[derive(Debug)]
pub enum Resumed {
    /// An install: the app runs (or is installed stopped), or it failed and was undone.
    Install(Result<super::InstallReport, InstallError>),
    /// An update: the new version runs, or it was rolled back (or the rollback failed).
    Update(Result<super::UpdateReport, UpdateError>),
}

impl Orchestrator {
    /// Load a release's images (hash-checked) and prepare its secrets and volumes; progress
    /// within `range`. Returns the image id per container and every secret's value.
    pub(super) async fn prepare<E>(
        &self,
        name: &str,
        release: &Release,
        sink: &ProgressSink,
        range: (u8, u8),
    ) -> Result<(BTreeMap<String, String>, BTreeMap<String, SecretString>), E>
    where
        E: From<ImageError> + From<DataError>,
    {
        let shared = self.shared();
        let images = images::ensure_all(&shared.podman, release, sink, range).await?;
        sink.emit(Stage::Prepare, range.1 + 2, "preparing secrets and volumes");
        let app_dir = shared.config.app_dir(name);
        let mut values = BTreeMap::new();
        for (s, _) in release.manifest.app_secrets() {
            values.insert(s.name.clone(), secrets::ensure(&app_dir, s)?);
        }
        for c in &release.manifest.containers {
            let vols: Vec<String> = c.volumes.iter().map(|v| v.name.clone()).collect();
            volumes::prepare(&shared.host, &app_dir, &vols, c.user.as_deref()).await?;
        }
        Ok((images, values))
    }

    /// Finish every install and update a crash interrupted (see the module docs), one
    /// after the other, with progress on `progress`. Call once after [`Orchestrator::open`];
    /// returns what was resumed and how it ended (also logged).
    pub async fn resume(&self, progress: &ProgressSink) -> Vec<(String, Resumed)> {
        let records = match self.shared().store.list().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read desired state to resume operations");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for record in records {
            if matches!(record.wanted, Wanted::Removed { .. }) {
                continue;
            }
            let name = record.name.clone();
            if record.previous.is_some() {
                tracing::info!(app = %name, "resuming an interrupted update");
                let sink = progress.bind(&name, Operation::Update);
                let result = self.resume_update(&name, &sink).await;
                sink.finish(&result, "updated");
                match &result {
                    Ok(r) => tracing::info!(app = %name, to = %r.to, "interrupted update finished"),
                    Err(e) => tracing::warn!(app = %name, error = %e, "interrupted update failed"),
                }
                out.push((name, Resumed::Update(result)));
            } else if record.phase == Phase::Preparing {
                tracing::info!(app = %name, "resuming an interrupted install");
                let sink = progress.bind(&name, Operation::Install);
                let result = {
                    let _lock = self.shared().lock_app(&name).await;
                    // Read again under the lock: an operation may have changed it meanwhile.
                    match self.shared().store.get(&name).await {
                        Ok(Some(r)) if r.phase == Phase::Preparing && r.previous.is_none() => {
                            self.finish_install(r, &sink).await
                        }
                        Ok(_) => continue,
                        Err(e) => Err(e.into()),
                    }
                };
                sink.finish(&result, "installed");
                match &result {
                    Ok(r) => {
                        tracing::info!(app = %name, version = %r.version, "interrupted install finished")
                    }
                    Err(e) => {
                        tracing::warn!(app = %name, error = %e, "interrupted install failed and was undone")
                    }
                }
                out.push((name, Resumed::Install(result)));
            }
        }
        out
    }
}

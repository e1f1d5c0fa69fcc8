//! The orchestrator behind the API: actions on apps from the catalog, run on rootless
//! podman, with the blob fetch's progress (bytes, source, path) and the orchestrator's
//! progress forwarded to the API's job. Desired state is
//! written once, by the orchestrator, into the catalog file (`super::desired`): what the
//! marketplace shows as installed is the orchestrator's own record.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use atoll_catalog::resolve::dependencies_of;
use atoll_catalog::CatalogService;
use atoll_orchestrator::secrets::Credential;
use atoll_orchestrator::{
    HealthStatus, InstallRequest, Orchestrator, ProgressSink, QueryError, Release,
};
use atoll_registry::objects::ArtifactKind;
use atoll_registry::{AppRef, Entry, Envelope, Hash, Verified};

use super::fetch_report::{self, FETCH_FROM, FETCH_TO};
use crate::api::jobs::JobHandle;
use crate::api::logs::LogEntry;
use crate::api::{Action, ActionRequest, ApiError, ApiResult, AppOps, BoxFut, LiveApp};

/// Apps run by the embedded orchestrator.
pub struct NodeApps {
    pub(super) orch: Orchestrator,
    swarm: Option<atoll_discovery::Discovery>,
    catalog: CatalogService,
    releases: PathBuf,
    blob_dirs: Arc<Vec<PathBuf>>,
}

/// The orchestrator's install name of an app: the app id plus a short hash of the
/// publisher, so the same app id from two publishers never collides.
pub fn install_name(app: &AppRef) -> String {
    let h = Hash::of(app.publisher.to_string().as_bytes()).to_hex();
    let id = app.app.as_str();
    let id = &id[..id.len().min(50)];
    format!("{}-{}", id.trim_end_matches('-'), &h[..8])
}

impl NodeApps {
    /// Wrap a running orchestrator.
    pub fn new(
        orch: Orchestrator,
        catalog: CatalogService,
        data: &Path,
        blob_dirs: Arc<Vec<PathBuf>>,
        swarm: Option<atoll_discovery::Discovery>,
    ) -> Self {
        Self {
            orch,
            swarm,
            catalog,
            releases: data.join("releases"),
            blob_dirs,
        }
    }

    /// The verified head entry of an app and its manifest, from the catalog.
    pub(super) async fn head(
        &self,
        app: &AppRef,
    ) -> Result<(Verified<Entry>, atoll_registry::Manifest)> {
        self.entry(app, None).await
    }

    /// The verified entry `payload` of an app (`None`: its head) and its manifest.
    pub(super) async fn entry(
        &self,
        app: &AppRef,
        payload: Option<Hash>,
    ) -> Result<(Verified<Entry>, atoll_registry::Manifest)> {
        let of = app.clone();
        let bytes = self
            .catalog
            .read(move |c| match payload {
                Some(id) => c.entry_envelope(&id),
                None => c.head_envelope(&of),
            })
            .await?
            .with_context(|| format!("{app} is not in the catalog"))?;
        let entry = Envelope::from_slice(&bytes)
            .and_then(|e| e.verify_rotated::<Entry>())
            .context("stored entry no longer verifies")?;
        anyhow::ensure!(
            entry.app_ref() == *app,
            "internal: entry {} is not one of {app}",
            entry.payload_id()
        );
        // Defense in depth: a void entry is never a head, and never installed.
        let id = entry.payload_id();
        if let Some(why) = self.catalog.read(move |c| c.void_reason(&id)).await? {
            anyhow::bail!(
                "refusing {app} sequence {}: signed by a retired key ({why})",
                entry.sequence
            );
        }
        let hash = entry.manifest.hash;
        let mut manifest = self.catalog.read(move |c| c.manifest(&hash)).await?;
        if manifest.is_none() {
            // Not fetched yet (e.g. published while the node was stopped, or its origin was
            // offline at sync time): fetch the entry now, verified like any other.
            if let Some(d) = &self.swarm {
                d.fetch_entry(&entry)
                    .await
                    .with_context(|| format!("fetching the manifest of {app}"))?;
                manifest = self.catalog.read(move |c| c.manifest(&hash)).await?;
            }
        }
        let manifest =
            manifest.with_context(|| format!("the manifest of {app} has not been fetched yet"))?;
        Ok((entry, manifest))
    }

    /// Fetch the entry's image blobs (origin first, then mirrors; verified), reporting
    /// bytes, source and path to `job`, and lay them out under the paths the manifest
    /// names for the orchestrator, which checks each archive's BLAKE3 against the signed
    /// entry again before loading it. `floor` becomes the job's percent after the fetch.
    pub(super) async fn release(
        &self,
        entry: &Verified<Entry>,
        manifest: atoll_registry::Manifest,
        job: &JobHandle,
        floor: &AtomicU8,
    ) -> Result<Release> {
        let dir = self.releases.join(entry.manifest.hash.to_hex());
        if let Some(d) = &self.swarm {
            job.step("fetch", FETCH_FROM, "fetching the app's blobs (verified)");
            let (tx, rx) = atoll_discovery::blobs::ProgressSender::channel();
            let (fetched, ()) = tokio::join!(
                d.fetch_entry_reporting(entry, tx),
                fetch_report::forward(job.clone(), entry, rx)
            );
            fetched.context("fetching the app's blobs")?;
            floor.store(FETCH_TO, Ordering::SeqCst);
        }
        for a in entry
            .artifacts
            .iter()
            .filter(|a| a.kind == ArtifactKind::Image)
        {
            let dst = dir.join(&a.path);
            if dst.exists() {
                continue;
            }
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            if let Some(d) = &self.swarm {
                if d.blobs().export(&a.blob.hash, &dst).await.is_ok() {
                    continue;
                }
            }
            let src = self
                .blob_dirs
                .iter()
                .map(|d| d.join(a.blob.hash.to_hex()))
                .find(|p| p.exists())
                .with_context(|| {
                    format!(
                        "image {} ({}) is not held by this node",
                        a.path, a.blob.hash
                    )
                })?;
            std::fs::hard_link(&src, &dst)
                .or_else(|_| std::fs::copy(&src, &dst).map(|_| ()))
                .with_context(|| format!("staging {}", dst.display()))?;
        }
        Ok(Release::from_entry(entry, manifest, &dir)?)
    }

    /// The install names of the apps `app`'s manifest depends on, each installed at a
    /// matching version (the API planned and installed them first; this is checked again
    /// here, against the manifest actually installed).
    pub(super) async fn links(
        &self,
        app: &AppRef,
        manifest: &atoll_registry::Manifest,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (dep, req) in dependencies_of(&app.publisher, &manifest.dependencies) {
            let dep_name = install_name(&dep);
            let lookup = dep_name.clone();
            let row = self.catalog.read(move |c| c.installed_app(&lookup)).await?;
            match row {
                Some(r) if req.matches(&r.version) => out.push(dep_name),
                Some(r) => anyhow::bail!(
                    "{app} needs {dep} {req}, but version {} is installed: nothing was changed",
                    r.version
                ),
                None => anyhow::bail!(
                    "{app} needs {dep} {req}, which is not installed: nothing was changed \
                     (install it first; an install takes its dependencies with API \
                     with_deps, CLI --with-deps)"
                ),
            }
        }
        Ok(out)
    }

    /// The name people know an app by (its manifest's name in the catalog), else its id.
    async fn shown(&self, app: &AppRef) -> String {
        let of = app.clone();
        match self.catalog.read(move |c| c.app(&of)).await {
            Ok(Some(v)) if !v.summary.name.is_empty() => v.summary.name,
            _ => app.app.to_string(),
        }
    }

    /// An orchestrator message with the install names it quotes (`"notebook-7bd98e03"`,
    /// of this app or of another installed one) replaced by the apps' names people know.
    async fn in_people_words(&self, app: &AppRef, text: String) -> String {
        let mut apps = vec![app.clone()];
        if let Ok(rows) = self.catalog.read(|c| c.installed_apps()).await {
            apps.extend(rows.into_iter().filter_map(|r| r.app));
        }
        let mut names = Vec::new();
        for a in apps {
            let quoted = format!("{:?}", install_name(&a));
            if text.contains(&quoted) {
                names.push((quoted, self.shown(&a).await));
            }
        }
        named_for_people(text, &names)
    }

    /// The app's orchestrator status, or the API's error for an app not installed here.
    async fn installed_status(
        &self,
        app: &AppRef,
    ) -> ApiResult<(String, atoll_orchestrator::AppStatus)> {
        let name = install_name(app);
        match self.orch.status(&name).await {
            Ok(s) => Ok((name, s)),
            Err(e) => Err(query_error(app, e)),
        }
    }

    /// One action, its progress on `job`; the result's message or error ends the job.
    async fn run_one(
        &self,
        action: Action,
        app: &AppRef,
        req: &ActionRequest,
        job: &JobHandle,
    ) -> Result<String> {
        // After a blob fetch the orchestrator's 0-100 fills what is left above it.
        let floor = Arc::new(AtomicU8::new(0));
        let (sink, forward) = forward_progress(job, floor.clone());
        let result = self.act(action, app, req, &sink, (job, &floor)).await;
        drop(sink);
        let _ = forward.await;
        result
    }

    /// Install `app` after its dependencies, in order, in one job: each its own part of
    /// the job's progress (the steps name their app). A dependency that fails ends the
    /// job; those installed before it stay installed (each a complete install).
    async fn install_with_deps(&self, app: &AppRef, req: &ActionRequest, job: &JobHandle) {
        let total = req.dependencies.len() + 1;
        let span = |i: usize| (i * 99 / total) as u8;
        let mut installed = Vec::new();
        for (i, (dep, sequence)) in req.dependencies.iter().enumerate() {
            let part = job.part(span(i), span(i + 1), &dep.to_string());
            part.step(
                "dependency",
                0,
                format!(
                    "installing {} (dependency {} of {} of {app})",
                    dep.app,
                    i + 1,
                    req.dependencies.len()
                ),
            );
            // Installed meanwhile (another job): the resolver's choice stands, skip it.
            let lookup = install_name(dep);
            if let Ok(Some(row)) = self.catalog.read(move |c| c.installed_app(&lookup)).await {
                installed.push(format!("{} {} was already installed", dep.app, row.version));
                continue;
            }
            let dep_req = ActionRequest::by_node(dep, *sequence);
            match self.run_one(Action::Install, dep, &dep_req, &part).await {
                Ok(msg) => installed.push(msg),
                Err(e) => {
                    let kept = if installed.is_empty() {
                        String::new()
                    } else {
                        format!(" (installed before it, and kept: {})", installed.join("; "))
                    };
                    job.fail(format!(
                        "installing {dep}, a dependency of {app}, failed: {e:#}; {app} was not \
                         installed{kept}"
                    ));
                    return;
                }
            }
        }
        let part = job.part(span(total - 1), 99, &app.to_string());
        match self.run_one(Action::Install, app, req, &part).await {
            Ok(msg) => job.succeed(format!(
                "{msg} (after its dependencies: {})",
                installed.join("; ")
            )),
            Err(e) => job.fail(format!(
                "{e:#} (its dependencies were installed and are kept: {})",
                installed.join("; ")
            )),
        }
    }

    async fn act(
        &self,
        action: Action,
        app: &AppRef,
        req: &ActionRequest,
        sink: &ProgressSink,
        (job, floor): (&JobHandle, &AtomicU8),
    ) -> Result<String> {
        let name = install_name(app);
        match action {
            Action::Install => {
                let (entry, manifest) = self.entry(app, req.checked_entry).await?;
                let shown = manifest_name(&manifest, app);
                checked(&entry, req)?;
                let links = self.links(app, &manifest).await?;
                let ports = crate::api::ports::resolve(&manifest, &req.ports)
                    .map_err(|e| anyhow::anyhow!("ports: {e}"))?;
                if req.fresh {
                    match self.orch.delete_data(&name).await {
                        Ok(d) => job.step(
                            "data",
                            1,
                            format!(
                                "deleted the data kept from the earlier install ({})",
                                data_words(&d)
                            ),
                        ),
                        Err(atoll_orchestrator::DeleteDataError::NotFound(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                let release = self.release(&entry, manifest, job, floor).await?;
                let mut request = InstallRequest::new(release).name(&name);
                request.settings = req.settings.clone();
                request.ports = ports;
                for link in &links {
                    request = request.link(link);
                }
                let report = self.orch.install(request, sink).await?;
                // A fresh install starts with no failed update remembered.
                let of = app.clone();
                if let Err(e) = self
                    .catalog
                    .write(move |c| c.clear_update_failure(&of).map(|_| ()))
                    .await
                {
                    tracing::warn!(%app, error = %e, "an earlier failed update could not be forgotten");
                }
                let mut msg = match &report.web_url {
                    Some(u) => format!("{shown} {} is running at {u}", report.version),
                    None => format!("{shown} {} is running", report.version),
                };
                msg.push_str(&credential_words(&report.credentials, &report.kept));
                job.hold_credentials(report.credentials, report.kept);
                Ok(msg)
            }
            Action::Start => {
                self.orch.start(&name, sink).await?;
                Ok(format!("{} started", self.shown(app).await))
            }
            Action::Stop => {
                self.orch.stop(&name, sink).await?;
                Ok(format!(
                    "{} stopped; it stays stopped until you start it",
                    self.shown(app).await
                ))
            }
            Action::Restart => {
                self.orch.restart(&name, sink).await?;
                Ok(format!("{} restarted", self.shown(app).await))
            }
            Action::Update => {
                let (entry, manifest) = self.entry(app, req.checked_entry).await?;
                checked(&entry, req)?;
                // The new version's dependencies must be installed (and accept what is).
                self.links(app, &manifest).await?;
                let release = self.release(&entry, manifest, job, floor).await?;
                let result = self
                    .orch
                    .update_to(&name, release, req.downgrade, sink)
                    .await;
                self.remember_outcome(app, &entry.version, &result).await;
                let report = result?;
                let words = credential_words(&report.credentials, &[]);
                job.hold_credentials(report.credentials, Vec::new());
                Ok(format!(
                    "updated from {} to {}{words}",
                    report.from, report.to
                ))
            }
            Action::Uninstall => {
                let shown = self.shown(app).await;
                let data = self.orch.data_of(&name).await;
                self.orch.uninstall(&name, req.purge, sink).await?;
                Ok(if data.is_empty() {
                    format!("{shown} uninstalled; it had no data to keep")
                } else if req.purge {
                    format!(
                        "{shown} uninstalled and its data deleted ({})",
                        data_words(&data)
                    )
                } else {
                    format!(
                        "{shown} uninstalled; its data is kept ({}): a reinstall uses it again; \
                         delete it on the Installed page or with `atoll data delete {app}`",
                        data_words(&data)
                    )
                })
            }
        }
    }
}

/// The manifest's name of an app, else its id.
fn manifest_name(manifest: &atoll_registry::Manifest, app: &AppRef) -> String {
    if manifest.name.is_empty() {
        app.app.to_string()
    } else {
        manifest.name.clone()
    }
}

/// An orchestrator query's failure as the API answers it, naming the app as people know
/// it (its id, not the install name).
fn query_error(app: &AppRef, e: QueryError) -> ApiError {
    match e {
        QueryError::NotInstalled(_) => {
            ApiError::not_found(format!("{} is not installed on this node", app.app))
        }
        QueryError::UnknownContainer {
            container, known, ..
        } => ApiError::not_found(format!(
            "{} has no container {container:?}; its containers: {}",
            app.app,
            known.join(", ")
        )),
        QueryError::NoContainer { container, .. } => ApiError::not_found(format!(
            "container {container:?} of {} does not exist right now (not created yet, or \
             being recreated)",
            app.app
        )),
        other => ApiError::internal(format!("{}: {other}", app.app)),
    }
}

impl NodeApps {
    /// Keep a failed update's version and reason in the catalog (it is then not offered
    /// as a plain update again, nor retried by auto-update), or forget the app's failure
    /// after a successful update.
    async fn remember_outcome(
        &self,
        app: &AppRef,
        version: &semver::Version,
        result: &Result<atoll_orchestrator::UpdateReport, atoll_orchestrator::UpdateError>,
    ) {
        use atoll_orchestrator::UpdateError as E;
        let failure = match result {
            Ok(_) => None,
            Err(E::RolledBack {
                reason, restored, ..
            }) => Some((reason.to_string(), Some(restored.to_string()))),
            Err(E::DataNotRestored { reason, .. }) => Some((reason.to_string(), None)),
            Err(E::RollbackFailed {
                reason, rollback, ..
            }) => Some((format!("{reason}; the rollback failed: {rollback}"), None)),
            // Refused before anything changed (not newer, a port taken, a backup failed):
            // nothing to remember; the job's error says why.
            Err(_) => return,
        };
        let (of, v) = (app.clone(), version.to_string());
        let stored = self
            .catalog
            .write(move |c| match failure {
                Some((reason, restored)) => {
                    c.record_update_failure(&of, &v, &reason, restored.as_deref())
                }
                None => c.clear_update_failure(&of).map(|_| ()),
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!(%app, error = %e, "the outcome of the update could not be kept in the catalog");
        }
    }
}

/// A progress sink whose events become steps of `job`, scaled into what is left above
/// `floor` (a blob fetch's share) and kept below 100 (the job's own last event says done).
/// The task ends when every clone of the sink is dropped.
pub(super) fn forward_progress(
    job: &JobHandle,
    floor: Arc<AtomicU8>,
) -> (ProgressSink, tokio::task::JoinHandle<()>) {
    let (sink, mut events) = ProgressSink::channel();
    let job = job.clone();
    let forward = tokio::spawn(async move {
        while let Some(p) = events.recv().await {
            let stage = serde_json::to_value(p.stage)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("{:?}", p.stage).to_lowercase());
            let base = floor.load(Ordering::SeqCst).min(99);
            let scaled =
                u16::from(base) + u16::from(p.percent.min(100)) * u16::from(99 - base) / 100;
            job.step(&stage, scaled.min(99) as u8, p.message);
        }
    });
    (sink, forward)
}

/// Bytes for people: "512 B", "12.0 KiB", "3.4 MiB", "1.2 GiB".
pub fn human_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.1} GiB", f / (K * K * K))
    }
}

/// An app's data for people: "volumes data (12.0 KiB), secrets notebook-key".
pub(super) fn data_words(d: &atoll_orchestrator::AppData) -> String {
    let mut parts = Vec::new();
    if !d.volumes.is_empty() {
        let v: Vec<String> = d
            .volumes
            .iter()
            .map(|v| format!("{} ({})", v.name, human_bytes(v.bytes)))
            .collect();
        parts.push(format!("volumes {}", v.join(", ")));
    }
    if !d.secrets.is_empty() {
        parts.push(format!("secrets {}", d.secrets.join(", ")));
    }
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join("; ")
    }
}

/// What a job's last message says of its credentials (names only, never values).
fn credential_words(
    credentials: &[atoll_orchestrator::secrets::Credential],
    kept: &[String],
) -> String {
    let mut out = String::new();
    if !credentials.is_empty() {
        let names: Vec<&str> = credentials.iter().map(|c| c.name.as_str()).collect();
        out.push_str(&format!(
            "; generated {}: save it now, it is not shown again",
            names.join(", ")
        ));
    }
    if !kept.is_empty() {
        out.push_str(&format!(
            "; kept {} from the earlier install (not shown again)",
            kept.join(", ")
        ));
    }
    out
}

/// `text` with each quoted install name of `names` replaced by the name people know.
fn named_for_people(mut text: String, names: &[(String, String)]) -> String {
    for (quoted, shown) in names {
        text = text.replace(quoted.as_str(), shown);
    }
    text
}

/// The containers a log call reads: the one asked for (checked by the orchestrator
/// against the manifest), else each, in manifest order.
fn chosen(status: &atoll_orchestrator::AppStatus, container: Option<&str>) -> Vec<String> {
    match container {
        Some(c) => vec![c.to_owned()],
        None => status.containers.iter().map(|c| c.name.clone()).collect(),
    }
}

/// Install or update only the head the guard checked: a head that arrived after the check
/// (newer, or yanking the one checked) is refused here and needs a new request.
fn checked(entry: &Verified<Entry>, req: &ActionRequest) -> Result<()> {
    match req.checked_sequence {
        Some(seq) if seq != entry.sequence => anyhow::bail!(
            "the app's head changed (sequence {seq} was checked, {} is current) after the \
             install/update guard allowed it: nothing was changed; try again to have the new \
             head checked",
            entry.sequence
        ),
        Some(_) => Ok(()),
        None => anyhow::bail!(
            "internal: this install/update did not pass the install/update guard; nothing \
             was changed"
        ),
    }
}

impl AppOps for NodeApps {
    fn run(
        &self,
        action: Action,
        app: AppRef,
        req: ActionRequest,
        job: JobHandle,
    ) -> BoxFut<'_, ()> {
        Box::pin(async move {
            if action == Action::Install && !req.dependencies.is_empty() {
                return self.install_with_deps(&app, &req, &job).await;
            }
            match self.run_one(action, &app, &req, &job).await {
                Ok(msg) => {
                    // The outcome names where the app now answers (the UI's "Open" link).
                    let url = match action {
                        Action::Uninstall | Action::Stop => None,
                        _ => self.web_url(&app).await,
                    };
                    job.succeed_at(msg, url)
                }
                Err(e) => job.fail(self.in_people_words(&app, format!("{e:#}")).await),
            }
        })
    }

    fn installed(&self) -> BoxFut<'_, Result<Vec<LiveApp>>> {
        Box::pin(async move {
            let apps = self.orch.ps().await?;
            Ok(apps
                .into_iter()
                .map(|a| {
                    let stopped = a.containers.iter().all(|c| !c.is_running());
                    let health = a
                        .containers
                        .iter()
                        .map(|c| c.health)
                        .find(|h| *h != HealthStatus::Healthy)
                        .or_else(|| a.containers.first().map(|_| HealthStatus::Healthy));
                    LiveApp {
                        app: a.source.as_deref().and_then(|s| s.parse().ok()),
                        state: a.state,
                        health: if stopped { None } else { health },
                        containers: a.containers,
                        last_error: a.last_error,
                    }
                })
                .collect())
        })
    }

    fn logs(
        &self,
        app: AppRef,
        container: Option<String>,
        tail: usize,
    ) -> BoxFut<'_, ApiResult<Vec<LogEntry>>> {
        Box::pin(async move {
            let (name, status) = self.installed_status(&app).await?;
            let mut out = Vec::new();
            for c in chosen(&status, container.as_deref()) {
                let lines = match self.orch.logs(&name, &c, Some(tail)).await {
                    Ok(l) => l,
                    // Of each container: one not created (yet) has no log.
                    Err(QueryError::NoContainer { .. }) if container.is_none() => continue,
                    Err(e) => return Err(query_error(&app, e)),
                };
                out.extend(lines.into_iter().map(|l| LogEntry {
                    container: c.clone(),
                    stream: l.stream,
                    text: l.text,
                }));
            }
            Ok(out)
        })
    }

    fn follow_logs(
        &self,
        app: AppRef,
        container: Option<String>,
        tail: usize,
    ) -> BoxFut<'_, ApiResult<tokio::sync::mpsc::Receiver<LogEntry>>> {
        Box::pin(async move {
            let (name, status) = self.installed_status(&app).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(256);
            let mut followed = 0;
            let mut first_error = None;
            for c in chosen(&status, container.as_deref()) {
                let mut lines = match self.orch.follow_logs(&name, &c, tail).await {
                    Ok(r) => r,
                    Err(e) => {
                        first_error.get_or_insert(e);
                        continue;
                    }
                };
                followed += 1;
                let tx = tx.clone();
                // Ends when the log ends or the client leaves (also while the log is
                // quiet): dropping `lines` ends the request to podman.
                tokio::spawn(async move {
                    loop {
                        let l = tokio::select! {
                            () = tx.closed() => return,
                            l = lines.recv() => l,
                        };
                        let Some(l) = l else { return };
                        let entry = LogEntry {
                            container: c.clone(),
                            stream: l.stream,
                            text: l.text,
                        };
                        if tx.send(entry).await.is_err() {
                            return;
                        }
                    }
                });
            }
            match first_error {
                Some(e) if followed == 0 || container.is_some() => Err(query_error(&app, e)),
                _ => Ok(rx),
            }
        })
    }

    fn credentials(&self, app: AppRef) -> BoxFut<'_, ApiResult<Vec<Credential>>> {
        Box::pin(async move {
            self.orch
                .credentials(&install_name(&app))
                .await
                .map_err(|e| query_error(&app, e))
        })
    }

    fn usage(&self, app: AppRef) -> BoxFut<'_, ApiResult<atoll_orchestrator::AppUsage>> {
        Box::pin(async move {
            self.orch
                .usage(&install_name(&app))
                .await
                .map_err(|e| query_error(&app, e))
        })
    }

    fn data_of(&self, app: &AppRef) -> BoxFut<'_, Option<atoll_orchestrator::AppData>> {
        let name = install_name(app);
        Box::pin(async move { Some(self.orch.data_of(&name).await) })
    }

    fn kept_data(&self) -> BoxFut<'_, Result<Vec<atoll_orchestrator::AppData>>> {
        Box::pin(async move { Ok(self.orch.kept_data().await?) })
    }

    fn delete_data(
        &self,
        app: AppRef,
    ) -> BoxFut<'_, Result<atoll_orchestrator::AppData, atoll_orchestrator::DeleteDataError>> {
        Box::pin(async move { self.orch.delete_data(&install_name(&app)).await })
    }

    fn web_url(&self, app: &AppRef) -> BoxFut<'_, Option<String>> {
        let name = install_name(app);
        Box::pin(async move {
            let status = self.orch.status(&name).await.ok()?;
            if !status.containers.iter().any(|c| c.is_running()) {
                return None;
            }
            // The manifest of the version that runs (not the catalog's head, which may be
            // newer), read as stored: it was verified when it was attached.
            let hash: Hash = status.manifest_hash.parse().ok()?;
            let manifest = self.catalog.read(move |c| c.manifest(&hash)).await.ok()??;
            let (c, p) = manifest.web_port()?;
            let host = status
                .containers
                .iter()
                .find(|s| s.name == c.name)
                .and_then(|s| s.ports.iter().find(|x| x.container == p.container))
                .map_or(p.host, |x| x.host);
            Some(format!("http://127.0.0.1:{host}/"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_names_become_app_names() {
        let app: AppRef = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp/notebook"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let name = install_name(&app);
        assert!(name.starts_with("notebook-") && name.len() == "notebook-".len() + 8);
        let text = format!("host port 18081 is already used by installed app {name:?}");
        let names = vec![(format!("{name:?}"), "Notebook".to_owned())];
        assert_eq!(
            named_for_people(text, &names),
            "host port 18081 is already used by installed app Notebook"
        );
    }
}

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
use atoll_orchestrator::{HealthStatus, InstallRequest, Orchestrator, ProgressSink, Release};
use atoll_registry::objects::ArtifactKind;
use atoll_registry::{AppRef, Entry, Envelope, Hash, Verified};

use super::fetch_report::{self, FETCH_FROM, FETCH_TO};
use crate::api::jobs::JobHandle;
use crate::api::{Action, ActionRequest, AppOps, BoxFut, LiveApp};

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
        let of = app.clone();
        let bytes = self
            .catalog
            .read(move |c| c.head_envelope(&of))
            .await?
            .with_context(|| format!("{app} is not in the catalog"))?;
        let entry = Envelope::from_slice(&bytes)
            .and_then(|e| e.verify_rotated::<Entry>())
            .context("stored entry no longer verifies")?;
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
                let (entry, manifest) = self.head(app).await?;
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
                let mut msg = match &report.web_url {
                    Some(u) => format!("{} {} is running at {u}", report.name, report.version),
                    None => format!("{} {} is running", report.name, report.version),
                };
                msg.push_str(&credential_words(&report.credentials, &report.kept));
                job.hold_credentials(report.credentials, report.kept);
                Ok(msg)
            }
            Action::Start => {
                self.orch.start(&name, sink).await?;
                Ok(format!("{app} started"))
            }
            Action::Stop => {
                self.orch.stop(&name, sink).await?;
                Ok(format!(
                    "{app} stopped; it stays stopped until you start it"
                ))
            }
            Action::Restart => {
                self.orch.restart(&name, sink).await?;
                Ok(format!("{app} restarted"))
            }
            Action::Update => {
                let (entry, manifest) = self.head(app).await?;
                checked(&entry, req)?;
                // The new version's dependencies must be installed (and accept what is).
                self.links(app, &manifest).await?;
                let release = self.release(&entry, manifest, job, floor).await?;
                let report = self.orch.update(&name, release, sink).await?;
                let words = credential_words(&report.credentials, &[]);
                job.hold_credentials(report.credentials, Vec::new());
                Ok(format!(
                    "updated from {} to {}{words}",
                    report.from, report.to
                ))
            }
            Action::Uninstall => {
                let data = self.orch.data_of(&name).await;
                self.orch.uninstall(&name, req.purge, sink).await?;
                Ok(if data.is_empty() {
                    format!("{app} uninstalled; it had no data to keep")
                } else if req.purge {
                    format!(
                        "{app} uninstalled and its data deleted ({})",
                        data_words(&data)
                    )
                } else {
                    format!(
                        "{app} uninstalled; its data is kept ({}): a reinstall uses it again; \
                         delete it on the Installed page or with `atoll data delete {app}`",
                        data_words(&data)
                    )
                })
            }
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
                Err(e) => job.fail(format!("{e:#}")),
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
                    }
                })
                .collect())
        })
    }

    fn logs(&self, app: AppRef, tail: usize) -> BoxFut<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let name = install_name(&app);
            let status = self.orch.status(&name).await?;
            let mut out = Vec::new();
            for c in &status.containers {
                for l in self.orch.logs(&name, &c.name, Some(tail)).await? {
                    out.push(format!("{}: {}", c.name, l.text));
                }
            }
            Ok(out)
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

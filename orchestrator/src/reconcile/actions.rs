//! The podman actions of a pass: create, start, stop, remove, networks, and the lookups they
//! need (image environment, conmon PID).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{listed_grace, name_in_use, PassReport, Reconciler};
use crate::error::ReconcileError;
use crate::images;
use crate::labels;
use crate::podman::types::{ListedContainer, Network};
use crate::procfs;
use crate::runtime::Failure;
use crate::spec::Desired;
use crate::store::AppRecord;

impl Reconciler {
    /// Create the container (reloading its image if podman lost it). Returns its id.
    pub(super) async fn create(
        &mut self,
        record: &AppRecord,
        d: &Desired,
        report: &mut PassReport,
    ) -> Result<String, ReconcileError> {
        let podman = &self.shared.podman;
        if !podman.image_exists(&d.spec.image).await? {
            if let Some(c) = record
                .release
                .manifest
                .containers
                .iter()
                .find(|c| c.name == d.container)
            {
                tracing::warn!(app = %record.name, container = %d.container, "image missing: loading it again");
                images::ensure_one(podman, &record.release, c).await?;
            }
        }
        match podman.create_container(&d.spec).await {
            Ok(created) => {
                for w in &created.warnings {
                    tracing::debug!(app = %record.name, container = %d.container, warning = %w, "podman create");
                }
                tracing::info!(app = %record.name, container = %d.container, id = %&created.id[..12.min(created.id.len())], "created");
                report.actions += 1;
                self.created.insert(created.id.clone());
                Ok(created.id)
            }
            Err(e) if name_in_use(&e) => {
                let node = self.shared.config.node.as_str();
                match podman.inspect_container(&d.spec.name).await? {
                    Some(other)
                        if other.config.labels.get(labels::NODE).map(String::as_str)
                            == Some(node) =>
                    {
                        // Ours but not listed a moment ago: remove it, the next pass recreates.
                        podman.remove_container(&other.id).await?;
                        Err(e.into())
                    }
                    Some(_) => Err(ReconcileError::NameConflict {
                        kind: "container",
                        name: d.spec.name.clone(),
                    }),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Start a container, counting the start for backoff. A container that fails to start
    /// twice in a row is removed, so the next pass recreates it from scratch (stale runtime
    /// state after a crash, e.g. "container with given ID already exists").
    pub(super) async fn start(
        &mut self,
        app: &str,
        d: &Desired,
        id: &str,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        {
            let backoff = self.shared.config.backoff;
            let mut rt = self.shared.runtime();
            let e = rt.entry(app, &d.container);
            e.streak += 1;
            e.starts += 1;
            let now = Instant::now();
            e.last_start = Some(now);
            e.not_before = Some(now + backoff.delay(e.streak + 1));
            e.seen_running = false;
        }
        report.actions += 1;
        match self.shared.podman.start_container(id).await {
            Ok(()) => {
                tracing::info!(%app, container = %d.container, "started");
                let mut rt = self.shared.runtime();
                let e = rt.entry(app, &d.container);
                e.start_failures = 0;
                // From now on an exit is not ours (even one before a pass saw it running).
                e.id = Some(id.to_owned());
                e.seen_running = true;
                Ok(())
            }
            Err(e) if e.is_transport() => Err(e.into()),
            Err(e) => {
                let e = Arc::new(e);
                let recreate = {
                    let mut rt = self.shared.runtime();
                    let entry = rt.entry(app, &d.container);
                    entry.failures += 1;
                    entry.start_failures += 1;
                    entry.last_failure = Some(Failure::StartFailed(e.clone()));
                    entry.start_failures >= 2
                };
                tracing::warn!(%app, container = %d.container, error = %e, recreate, "start failed");
                if recreate {
                    self.shared
                        .runtime()
                        .entry(app, &d.container)
                        .start_failures = 0;
                    self.shared.podman.remove_container(id).await?;
                }
                let at = self
                    .shared
                    .runtime()
                    .get(app, &d.container)
                    .and_then(|e| e.not_before);
                report.next_wake = super::earliest(report.next_wake, at);
                Err(ReconcileError::StartFailed {
                    container: d.container.clone(),
                    source: e,
                })
            }
        }
    }

    /// Stop a running container with its grace (the client waits longer than the grace).
    pub(super) async fn stop(
        &mut self,
        app: &str,
        container: &str,
        l: &ListedContainer,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        self.shared.runtime().entry(app, container).seen_running = false;
        let grace = listed_grace(l);
        tracing::info!(%app, %container, ?grace, "stopping");
        report.actions += 1;
        self.shared.podman.stop_container(&l.id, grace).await?;
        Ok(())
    }

    /// Stop (with its grace, if it really runs) and remove a container.
    pub(super) async fn stop_remove(
        &mut self,
        l: &ListedContainer,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        if let (Some(app), Some(container)) = (l.label(labels::APP), l.label(labels::CONTAINER)) {
            self.shared.runtime().entry(app, container).seen_running = false;
        }
        if l.state.is_running_like() && procfs::state(l.pid).alive() {
            if let Err(e) = self
                .shared
                .podman
                .stop_container(&l.id, listed_grace(l))
                .await
            {
                tracing::warn!(container = %l.name(), error = %e, "stop failed; removing by force");
            }
        }
        self.force_remove(l, report).await
    }

    /// `rm -f`, retried once: with conmon gone the first attempt can fail after waiting
    /// for an exit file that never comes, and leaves the container stopped for the second.
    pub(super) async fn force_remove(
        &mut self,
        l: &ListedContainer,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        report.actions += 1;
        let first = match self.shared.podman.remove_container(&l.id).await {
            Ok(()) => {
                self.removed(l);
                return Ok(());
            }
            Err(e) if e.is_transport() => return Err(e.into()),
            Err(e) => e,
        };
        tracing::warn!(container = %l.name(), error = %first, "remove failed; retrying");
        tokio::time::sleep(Duration::from_millis(200)).await;
        match self.shared.podman.remove_container(&l.id).await {
            Ok(()) => {
                self.removed(l);
                Ok(())
            }
            Err(source) => Err(ReconcileError::Stuck {
                name: l.name().to_owned(),
                source,
            }),
        }
    }

    /// With conmon dead, podman removes a container without `runc delete`: its runc state
    /// dir (`$XDG_RUNTIME_DIR/runc/<id>`) would stay forever. Remove it once the container
    /// is gone.
    fn forget_runtime_state(&self, id: &str) {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return;
        }
        let dir = self.shared.host.runtime_dir().join("runc").join(id);
        if dir.is_dir() {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => tracing::debug!(dir = %dir.display(), "removed stale runc state"),
                Err(e) => {
                    tracing::debug!(dir = %dir.display(), error = %e, "cannot remove stale runc state")
                }
            }
        }
    }

    fn removed(&mut self, l: &ListedContainer) {
        tracing::info!(container = %l.name(), "removed");
        self.verified.remove(&l.id);
        self.forget_runtime_state(&l.id);
    }

    /// Make sure the app's network exists (and is ours).
    pub(super) async fn ensure_network(
        &mut self,
        app: &str,
        networks: &HashMap<String, Network>,
    ) -> Result<(), ReconcileError> {
        let name = labels::network_name(app);
        if networks.contains_key(&name) {
            return Ok(());
        }
        let node = self.shared.config.node.as_str();
        match self.shared.podman.network_labels(&name).await? {
            Some(l) if l.get(labels::NODE).map(String::as_str) == Some(node) => Ok(()),
            Some(_) => Err(ReconcileError::NameConflict {
                kind: "network",
                name,
            }),
            None => {
                let mut l = BTreeMap::new();
                l.insert(labels::MANAGED.to_owned(), "true".to_owned());
                l.insert(labels::NODE.to_owned(), node.to_owned());
                l.insert(labels::APP.to_owned(), app.to_owned());
                self.shared.podman.create_network(&name, &l).await?;
                tracing::info!(%app, network = %name, "created network");
                Ok(())
            }
        }
    }

    /// The image's default environment (cached).
    pub(super) async fn image_env(&mut self, image: &str) -> Result<Vec<String>, ReconcileError> {
        if let Some(env) = self.image_env.get(image) {
            return Ok(env.clone());
        }
        let env = self
            .shared
            .podman
            .inspect_image(image)
            .await?
            .map(|i| i.config.env)
            .unwrap_or_default();
        self.image_env.insert(image.to_owned(), env.clone());
        Ok(env)
    }

    /// conmon's PID for the container's current run (cached per id and PID).
    pub(super) async fn conmon_pid(
        &mut self,
        l: &ListedContainer,
    ) -> Result<Option<i64>, ReconcileError> {
        let key = (l.id.clone(), l.pid);
        if let Some(p) = self.conmon.get(&key) {
            return Ok(Some(*p));
        }
        let Some(inspect) = self.shared.podman.inspect_container(&l.id).await? else {
            return Ok(None);
        };
        if inspect.state.conmon_pid <= 0 {
            return Ok(None);
        }
        self.conmon
            .insert((l.id.clone(), inspect.state.pid), inspect.state.conmon_pid);
        Ok(Some(inspect.state.conmon_pid))
    }
}

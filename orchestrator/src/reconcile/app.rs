//! Reconciling one app that is wanted running: create, start in dependency order,
//! recreate on drift or zombie, restart with backoff. Stopped and removed apps are in
//! `stop.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use atoll_registry::manifest::Manifest;

use super::{earliest, running_like, PassReport, Reconciler};
use crate::error::ReconcileError;
use crate::health::HealthStatus;
use crate::podman::types::{ListedContainer, Network};
use crate::progress::{ProgressSink, Stage};
use crate::spec::{self, Desired, Inputs};
use crate::store::{AppRecord, Phase, Wanted};
use crate::{drift, labels, order, procfs, secrets, volumes};

/// What a container needs.
#[derive(Debug)]
enum Verdict {
    /// Running and healthy (or without a check).
    Ready,
    /// Running, health not passed yet.
    Running,
    /// Running, failed its checks.
    Unhealthy,
    /// Exists, not running.
    Stopped,
    /// Does not exist.
    Missing,
    /// Exists but is not what the spec says.
    Recreate(String),
    /// podman says running, the process (or its conmon) is gone.
    Zombie(String),
    /// In transition; look again soon.
    Wait(&'static str),
}

/// Containers in start order (manifest order if the dependencies are broken).
pub(super) fn ordered(manifest: &Manifest) -> Vec<&atoll_registry::manifest::Container> {
    order::start_order(manifest).unwrap_or_else(|_| manifest.containers.iter().collect())
}

/// Group an app's containers by their container label.
pub(super) fn by_container(actual: Vec<ListedContainer>) -> HashMap<String, Vec<ListedContainer>> {
    let mut out: HashMap<String, Vec<ListedContainer>> = HashMap::new();
    for c in actual {
        let name = c.label(labels::CONTAINER).unwrap_or_default().to_owned();
        out.entry(name).or_default().push(c);
    }
    out
}

impl Reconciler {
    pub(super) async fn reconcile_app(
        &mut self,
        record: &AppRecord,
        actual: Vec<ListedContainer>,
        networks: &HashMap<String, Network>,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        if record.phase == Phase::Preparing && !matches!(record.wanted, Wanted::Removed { .. }) {
            // Its images are being loaded (or will be, by `resume`): nothing to create yet,
            // and an update's old containers are left running as they are.
            return Ok(());
        }
        match record.wanted {
            Wanted::Running => self.run_app(record, actual, networks, sink, report).await,
            Wanted::Stopped => self.stop_app(record, actual, sink, report).await,
            Wanted::Removed { purge } => {
                self.remove_app(record, actual, networks, purge, sink, report)
                    .await
            }
        }
    }

    async fn run_app(
        &mut self,
        record: &AppRecord,
        actual: Vec<ListedContainer>,
        networks: &HashMap<String, Network>,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        let app = record.name.as_str();
        let manifest = &record.release.manifest;
        let app_dir = self.shared.config.app_dir(app);
        let mut secret_values = BTreeMap::new();
        for c in &manifest.containers {
            for s in &c.secrets {
                if !secret_values.contains_key(&s.name) {
                    secret_values.insert(s.name.clone(), secrets::ensure(&app_dir, s)?);
                }
            }
            let vols: Vec<String> = c.volumes.iter().map(|v| v.name.clone()).collect();
            volumes::prepare(&self.shared.host, &app_dir, &vols, c.user.as_deref()).await?;
        }
        if manifest
            .containers
            .iter()
            .any(|c| c.network.as_deref() != Some("none"))
        {
            self.ensure_network(app, networks).await?;
        }
        let node = self.shared.config.node.clone();
        let inputs = Inputs {
            node: &node,
            app_dir: &app_dir,
            secrets: &secret_values,
        };
        let mut groups = by_container(actual);
        let wanted: HashSet<&str> = manifest
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let mut first_error = None;
        let strays: Vec<String> = groups
            .keys()
            .filter(|k| !wanted.contains(k.as_str()))
            .cloned()
            .collect();
        for k in strays {
            for l in groups.remove(&k).unwrap_or_default() {
                tracing::info!(%app, container = %l.name(), "removing a container the manifest no longer has");
                if let Err(e) = self.stop_remove(&l, report).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        let order = ordered(manifest);
        let mut ready: HashSet<String> = HashSet::new();
        for c in order {
            let Some(d) = spec::build(record, c, &inputs) else {
                first_error.get_or_insert(ReconcileError::Stuck {
                    name: c.name.clone(),
                    reason: "no image id recorded for it".to_owned(),
                });
                continue;
            };
            let list = groups.remove(&c.name).unwrap_or_default();
            match self.converge(record, &d, list, &ready, sink, report).await {
                Ok(true) => {
                    ready.insert(c.name.clone());
                }
                Ok(false) => {}
                Err(e) if e_is_transport(&e) => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Converge one container; `Ok(true)` if it is ready.
    async fn converge(
        &mut self,
        record: &AppRecord,
        d: &Desired,
        mut list: Vec<ListedContainer>,
        ready: &HashSet<String>,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<bool, ReconcileError> {
        let app = record.name.as_str();
        // podman names are unique: anything else with our labels for this slot is a stray.
        let (keep, extra): (Vec<_>, Vec<_>) = list.drain(..).partition(|l| l.name() == d.spec.name);
        for e in extra {
            self.stop_remove(&e, report).await?;
        }
        let mut current = keep.into_iter().next();
        let verdict = match &current {
            None => Verdict::Missing,
            Some(l) => self.classify(app, d, l).await?,
        };
        let mut restart = false;
        match verdict {
            Verdict::Ready => return Ok(true),
            Verdict::Running => return Ok(false),
            Verdict::Wait(why) => {
                tracing::debug!(%app, container = %d.container, why, "waiting");
                report.next_wake = earliest(
                    report.next_wake,
                    Some(Instant::now() + Duration::from_millis(500)),
                );
                return Ok(false);
            }
            Verdict::Recreate(reason) => {
                if let Some(l) = current.take() {
                    tracing::info!(%app, container = %d.container, %reason, "recreating");
                    sink.note(
                        Stage::Containers,
                        format!("{}: recreating ({reason})", d.container),
                    );
                    self.stop_remove(&l, report).await?;
                }
            }
            Verdict::Zombie(why) => {
                if let Some(l) = current.take() {
                    tracing::warn!(%app, container = %d.container, %why, "zombie: force-removing and recreating");
                    sink.note(
                        Stage::Containers,
                        format!("{}: zombie ({why}); recreating", d.container),
                    );
                    {
                        let mut rt = self.shared.runtime();
                        let e = rt.entry(app, &d.container);
                        e.failures += 1;
                        e.last_failure = Some(format!("zombie: {why}"));
                        e.seen_running = false;
                    }
                    self.force_remove(&l, report).await?;
                }
            }
            Verdict::Unhealthy => restart = true,
            Verdict::Stopped | Verdict::Missing => {}
        }
        if !d.depends_on.iter().all(|dep| ready.contains(dep)) {
            sink.note(
                Stage::Containers,
                format!("{}: waiting for {}", d.container, d.depends_on.join(", ")),
            );
            return Ok(false);
        }
        let not_before = self
            .shared
            .runtime()
            .get(app, &d.container)
            .and_then(|e| e.not_before);
        if let Some(at) = not_before {
            if at > Instant::now() {
                tracing::debug!(%app, container = %d.container, "restart backoff");
                report.next_wake = earliest(report.next_wake, Some(at));
                return Ok(false);
            }
        }
        let id = match current {
            Some(l) => {
                if restart {
                    tracing::info!(%app, container = %d.container, "restarting an unhealthy container");
                    sink.note(
                        Stage::Containers,
                        format!("{}: unhealthy, restarting", d.container),
                    );
                    self.shared.runtime().entry(app, &d.container).seen_running = false;
                    if let Err(e) = self.shared.podman.stop_container(&l.id, d.grace).await {
                        tracing::warn!(%app, container = %d.container, error = %e, "stop failed");
                    }
                }
                l.id
            }
            None => {
                sink.note(Stage::Containers, format!("creating {}", d.container));
                self.create(record, d, report).await?
            }
        };
        sink.note(Stage::Containers, format!("starting {}", d.container));
        self.start(app, d, &id, report).await?;
        Ok(false)
    }

    async fn classify(
        &mut self,
        app: &str,
        d: &Desired,
        l: &ListedContainer,
    ) -> Result<Verdict, ReconcileError> {
        if l.label(labels::CONFIG_HASH) != Some(d.config_hash.as_str()) {
            return Ok(Verdict::Recreate("its spec changed".to_owned()));
        }
        if self.verified.get(&l.id) != Some(&d.config_hash) {
            let Some(inspect) = self.shared.podman.inspect_container(&l.id).await? else {
                return Ok(Verdict::Missing);
            };
            let image_env = self.image_env(&inspect.image).await?;
            if let Some(reason) = drift::check(&inspect, d, &image_env) {
                return Ok(Verdict::Recreate(reason));
            }
            self.verified.insert(l.id.clone(), d.config_hash.clone());
            self.conmon
                .insert((l.id.clone(), inspect.state.pid), inspect.state.conmon_pid);
        }
        // An exit we did not cause counts as a failure (and the next start as a restart).
        {
            let mut rt = self.shared.runtime();
            let e = rt.entry(app, &d.container);
            if e.seen_running && e.id.as_deref() == Some(l.id.as_str()) && !running_like(&l.state) {
                e.failures += 1;
                e.last_failure = Some(format!("exited with code {}", l.exit_code));
                e.seen_running = false;
                tracing::warn!(%app, container = %d.container, code = l.exit_code, "container exited");
            }
        }
        if !running_like(&l.state) {
            return Ok(match l.state.as_str() {
                "removing" => Verdict::Wait("being removed"),
                // `created` without us having created it: podman reset it after a reboot.
                // Its first start then comes up without port forwarding (podman 4.3.1),
                // so a fresh container is the safe way back.
                "created" | "configured" | "initialized" if !self.created.contains(&l.id) => {
                    Verdict::Recreate("left `created` by a reboot".to_owned())
                }
                // Exit code -1: podman gave up waiting for conmon's exit file (a zombie that
                // was stopped by hand). Its network was never torn down; start it afresh.
                "exited" | "stopped" if l.exit_code == -1 => {
                    Verdict::Recreate("its last run ended without conmon".to_owned())
                }
                _ => Verdict::Stopped,
            });
        }
        let conmon = self.conmon_pid(l).await?;
        let conmon_alive = conmon.is_some_and(|p| procfs::state(p).alive());
        let proc_state = procfs::state(l.pid);
        if !proc_state.alive() {
            if conmon_alive {
                return Ok(Verdict::Wait("conmon is recording the exit"));
            }
            // conmon writes the exit file before it exits: with the file there, podman is
            // just about to record the exit (a normal crash), not a zombie.
            if self.shared.host.exits_dir().join(&l.id).exists() {
                return Ok(Verdict::Wait("podman is recording the exit"));
            }
            return Ok(Verdict::Zombie(format!(
                "podman says {} but PID {} is {:?} and conmon is gone",
                l.state, l.pid, proc_state
            )));
        }
        if !conmon_alive {
            return Ok(Verdict::Zombie(format!(
                "conmon of PID {} is gone: podman cannot see this container any more",
                l.pid
            )));
        }
        if l.state == "stopping" {
            return Ok(Verdict::Wait("stopping"));
        }
        if d.health.is_none() {
            return Ok(Verdict::Ready);
        }
        let rt = self.shared.runtime();
        let Some(e) = rt.get(app, &d.container) else {
            return Ok(Verdict::Running);
        };
        if e.health_key.as_ref() != Some(&(l.id.clone(), l.pid)) {
            return Ok(Verdict::Running);
        }
        Ok(match e.health.status {
            HealthStatus::Healthy => Verdict::Ready,
            HealthStatus::Unhealthy => Verdict::Unhealthy,
            HealthStatus::Starting | HealthStatus::None => Verdict::Running,
        })
    }
}

fn e_is_transport(e: &ReconcileError) -> bool {
    matches!(e, ReconcileError::Podman(p) if p.is_transport())
}

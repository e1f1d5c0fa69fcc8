//! The lifecycle gate, driven by `apps/`: every `apps/*/manifest.yml` goes through install,
//! UI reachable, stop, start, restart, update, uninstall without a ghost, reinstall,
//! node-restart survival, a simulated host reboot and a final uninstall, each on its own
//! isolated podman instance. A new app is covered by adding its directory: nothing here
//! names an app. What the gate needs to know comes from the manifest (ports, web port,
//! settings without a default, `show` secrets).
//!
//! Prints one line of timings per app (run with `--nocapture` to see them).
//! `ATOLL_GATE_APPS=radicale,mosquitto` narrows the run to those apps (an unknown name fails).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use atoll_orchestrator::{
    AppState, HealthStatus, InstallReport, InstallRequest, Orchestrator, Progress, ProgressSink,
    Stage,
};
use atoll_registry::Manifest;

use crate::harness::{
    app_dir, eventually, free_port, http_get, release, release_with, until_ready, Env,
};

/// Every app directory under `apps/` with a manifest, sorted by id.
fn app_ids() -> Vec<String> {
    let apps = app_dir("");
    let mut ids: Vec<String> = std::fs::read_dir(&apps)
        .unwrap_or_else(|e| panic!("{}: {e}", apps.display()))
        .filter_map(|e| {
            let e = e.ok()?;
            e.path()
                .join("manifest.yml")
                .is_file()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    ids.sort();
    if let Ok(only) = std::env::var("ATOLL_GATE_APPS") {
        let wanted: Vec<String> = only.split(',').map(|s| s.trim().to_owned()).collect();
        for w in &wanted {
            assert!(
                ids.contains(w),
                "ATOLL_GATE_APPS names {w:?}, which is not an app under {}",
                apps.display()
            );
        }
        ids.retain(|id| wanted.contains(id));
    }
    assert!(!ids.is_empty(), "no apps under {}", apps.display());
    ids
}

fn drain(events: &mut tokio::sync::mpsc::UnboundedReceiver<Progress>) -> Vec<Progress> {
    let mut out = Vec::new();
    while let Ok(p) = events.try_recv() {
        out.push(p);
    }
    out
}

/// Progress ran forward and ended in `Done` at 100 %.
fn assert_done(app: &str, step: &str, events: &[Progress]) {
    let last = events
        .last()
        .unwrap_or_else(|| panic!("{app} {step}: no progress events"));
    assert_eq!(last.stage, Stage::Done, "{app} {step}: {events:#?}");
    assert_eq!(last.percent, 100, "{app} {step}: {events:#?}");
    assert!(
        events.windows(2).all(|w| w[0].percent <= w[1].percent),
        "{app} {step}: progress went backwards: {events:#?}"
    );
}

/// One app under test: its manifest, its host ports, the values for required settings.
struct Subject {
    id: String,
    manifest: Manifest,
    /// Manifest host port -> the free host port used here.
    ports: BTreeMap<u16, u16>,
    /// The host port of the web UI, if the app has one.
    web: Option<u16>,
}

impl Subject {
    fn new(id: &str) -> Subject {
        let manifest = release(id).manifest;
        let ports: BTreeMap<u16, u16> = manifest
            .containers
            .iter()
            .flat_map(|c| c.ports.iter())
            .map(|p| (p.host, free_port()))
            .collect();
        let web = manifest.web_port().map(|(_, p)| ports[&p.host]);
        Subject {
            id: id.to_owned(),
            manifest,
            ports,
            web,
        }
    }

    fn request(&self) -> InstallRequest {
        let mut r = InstallRequest::new(release(&self.id));
        for (from, to) in &self.ports {
            r = r.port(*from, *to);
        }
        // A setting without a default needs a value at install; one the app accepts.
        for s in self.manifest.settings.iter().filter(|s| s.required()) {
            r = r.setting(&s.name, &format!("gate-{}", s.name));
        }
        r
    }

    /// The `show` secrets of the app, sorted.
    fn shown(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .manifest
            .app_secrets()
            .into_iter()
            .filter(|(_, show)| *show)
            .map(|(s, _)| s.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Ready, every container healthy or without a check, and the web port answering
    /// HTTP without a server error.
    async fn assert_up(&self, orch: &Orchestrator, step: &str) {
        let s = until_ready(orch, &self.id).await;
        assert_eq!(s.state, AppState::Ready, "{} {step}: {s:?}", self.id);
        for c in &s.containers {
            assert!(c.is_running(), "{} {step}: {c:?}", self.id);
            // Healthy by its own check: a crash loop or a failing check is not up.
            assert!(
                matches!(c.health, HealthStatus::Healthy | HealthStatus::None),
                "{} {step}: {c:?}",
                self.id
            );
            assert_eq!(c.last_failure, None, "{} {step}: {c:?}", self.id);
        }
        if let Some(port) = self.web {
            let what = format!("{} {step}: the web UI on port {port} to answer", self.id);
            let code = eventually(&what, || http_get(port, "/").map(|(code, _)| code)).await;
            assert!(code < 500, "{} {step}: the web UI answers {code}", self.id);
        }
    }

    /// Container ids by container name.
    async fn ids(&self, orch: &Orchestrator) -> BTreeMap<String, String> {
        let s = orch
            .status(&self.id)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.id));
        s.containers
            .iter()
            .map(|c| {
                let id =
                    c.id.clone()
                        .unwrap_or_else(|| panic!("{}: {} has no container", self.id, c.name));
                (c.name.clone(), id)
            })
            .collect()
    }
}

fn state_of(env: &Env, id: &str, field: &str) -> String {
    let i = env
        .inspect(id)
        .unwrap_or_else(|| panic!("no container {id}"));
    i["State"][field].to_string()
}

fn credential_names(report: &InstallReport) -> Vec<String> {
    let mut v: Vec<String> = report.credentials.iter().map(|c| c.name.clone()).collect();
    v.sort();
    v
}

/// Nothing of the app is left in podman; no process of the instance but the API service.
async fn assert_no_ghost(env: &Env, orch: &Orchestrator, app: &str, step: &str) {
    assert!(
        orch.ps().await.unwrap().is_empty(),
        "{app} {step}: still listed"
    );
    assert!(
        orch.store().list().await.unwrap().is_empty(),
        "{app} {step}: still in the desired state"
    );
    let labelled = env.labelled();
    assert!(labelled.is_empty(), "{app} {step}: ghost {labelled:?}");
    let what = format!("{app} {step}: the instance's container processes to end");
    let leftovers = eventually(&what, || {
        let l = env.leftovers();
        l.is_empty().then_some(l)
    })
    .await;
    assert!(leftovers.is_empty());
}

/// The whole gate for one app; returns (install time, gate time).
async fn gate(id: &str) -> (Duration, Duration) {
    let started = Instant::now();
    let subject = Subject::new(id);
    let env = Env::new(&format!("gate-{id}"));
    let config = env.config();
    let mut orch = env.orchestrator_with(config.clone()).await;
    let (sink, mut events) = ProgressSink::channel();

    // install: progress forward to Done, the credentials of the `show` secrets once
    let t = Instant::now();
    let report = orch
        .install(subject.request(), &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} install: {e}"));
    let install_time = t.elapsed();
    assert_done(id, "install", &drain(&mut events));
    assert_eq!(credential_names(&report), subject.shown(), "{id} install");
    assert!(report.kept.is_empty(), "{id} install: {:?}", report.kept);
    assert_eq!(
        report.web_url,
        subject.web.map(|p| format!("http://127.0.0.1:{p}/")),
        "{id} install"
    );
    subject.assert_up(&orch, "install").await;

    // stop: stays stopped, the web port is closed
    orch.stop(id, &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} stop: {e}"));
    assert_done(id, "stop", &drain(&mut events));
    orch.reconcile_now().await;
    let s = orch.status(id).await.unwrap();
    assert_eq!(s.state, AppState::Stopped, "{id} stop: {s:?}");
    assert!(s.stopped_by_user, "{id} stop");
    if let Some(port) = subject.web {
        assert!(http_get(port, "/").is_none(), "{id} stop: UI still answers");
    }

    // start
    orch.start(id, &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} start: {e}"));
    assert_done(id, "start", &drain(&mut events));
    subject.assert_up(&orch, "start").await;

    // restart: the same containers, new processes
    let ids = subject.ids(&orch).await;
    let pids: Vec<String> = ids.values().map(|c| state_of(&env, c, "Pid")).collect();
    orch.restart(id, &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} restart: {e}"));
    assert_done(id, "restart", &drain(&mut events));
    subject.assert_up(&orch, "restart").await;
    assert_eq!(subject.ids(&orch).await, ids, "{id} restart: recreated");
    for (c, before) in ids.values().zip(&pids) {
        assert_ne!(
            &state_of(&env, c, "Pid"),
            before,
            "{id} restart: same process"
        );
    }

    // update: the same manifest, one patch version up
    let mut next = subject.manifest.version.clone();
    next.patch += 1;
    let to = next.clone();
    let up = orch
        .update(id, release_with(id, move |m| m.version = to), &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} update: {e}"));
    assert_eq!(up.to, next, "{id} update");
    assert_done(id, "update", &drain(&mut events));
    subject.assert_up(&orch, "update").await;
    assert_eq!(orch.status(id).await.unwrap().version, next, "{id} update");

    // uninstall (data kept): no container, network or process left
    orch.uninstall(id, false, &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} uninstall: {e}"));
    assert_done(id, "uninstall", &drain(&mut events));
    assert_no_ghost(&env, &orch, id, "uninstall").await;

    // reinstall: the kept secrets are reused, so no credential is shown again
    let report = orch
        .install(subject.request(), &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} reinstall: {e}"));
    assert_done(id, "reinstall", &drain(&mut events));
    assert!(report.credentials.is_empty(), "{id} reinstall: shown again");
    let mut kept = report.kept.clone();
    kept.sort();
    assert_eq!(kept, subject.shown(), "{id} reinstall");
    subject.assert_up(&orch, "reinstall").await;

    // node restart: a new orchestrator over the same state adopts the running containers
    let ids = subject.ids(&orch).await;
    let started_at: Vec<String> = ids
        .values()
        .map(|c| state_of(&env, c, "StartedAt"))
        .collect();
    orch.shutdown().await;
    orch = env.orchestrator_with(config.clone()).await;
    orch.reconcile_now().await;
    subject.assert_up(&orch, "node restart").await;
    assert_eq!(
        subject.ids(&orch).await,
        ids,
        "{id} node restart: recreated"
    );
    for (c, before) in ids.values().zip(&started_at) {
        assert_eq!(
            &state_of(&env, c, "StartedAt"),
            before,
            "{id} node restart: restarted"
        );
    }

    // simulated host reboot: everything killed, runtime state gone; the app comes back
    orch.shutdown().await;
    env.simulate_reboot();
    let states = env.podman_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(
        !states.contains("running"),
        "{id} reboot: something survived: {states}"
    );
    orch = env.orchestrator_with(config.clone()).await;
    subject.assert_up(&orch, "reboot").await;

    // final uninstall with purge: progress forward to Done, nothing left, data gone
    orch.uninstall(id, true, &sink)
        .await
        .unwrap_or_else(|e| panic!("{id} purge: {e}"));
    assert_done(id, "purge", &drain(&mut events));
    assert_no_ghost(&env, &orch, id, "purge").await;
    let data: PathBuf = env.data.join("apps").join(id);
    assert!(!data.exists(), "{id} purge: {} is left", data.display());
    orch.shutdown().await;
    (install_time, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_app_passes_the_lifecycle_gate() {
    let mut timings = Vec::new();
    for id in app_ids() {
        let (install, total) = gate(&id).await;
        eprintln!(
            "gate: {id:<14} install {:>6.1}s  gate {:>6.1}s",
            install.as_secs_f64(),
            total.as_secs_f64()
        );
        timings.push((id, install, total));
    }
    eprintln!("gate: {} apps passed", timings.len());
}

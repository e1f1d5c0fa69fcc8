//! The full lifecycle of each sample app, and the behaviours that need a quiet or a busy
//! orchestrator of their own (events, drift while running, a tampered archive).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use atoll_orchestrator::{
    AppState, ContainerState, HealthStatus, ImageError, InstallError, InstallRequest, Progress,
    ProgressSink, Stage,
};

use crate::harness::{eventually, free_port, http_get, release, release_with, until_ready, Env};

fn drain(events: &mut tokio::sync::mpsc::UnboundedReceiver<Progress>) -> Vec<Progress> {
    let mut out = Vec::new();
    while let Ok(p) = events.try_recv() {
        out.push(p);
    }
    out
}

/// Progress events ran forward and ended in `Done`.
fn assert_done(events: &[Progress]) {
    let last = events.last().expect("progress events");
    assert_eq!(last.stage, Stage::Done, "{events:#?}");
    assert_eq!(last.percent, 100);
    assert!(
        events.windows(2).all(|w| w[0].percent <= w[1].percent),
        "percentages went backwards: {events:#?}"
    );
}

/// One notebook visit: the notes count and the key line (length and hash prefix).
fn visit(port: u16) -> (u32, String) {
    let (code, body) = http_get(port, "/cgi-bin/index.cgi").expect("notebook answers");
    assert_eq!(code, 200, "{body}");
    let field = |open: &str| {
        let start = body.find(open).expect(open) + open.len();
        body[start..]
            .split('<')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    (
        field("<span id=\"count\">").parse().expect("a number"),
        field("<p id=\"key\">"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_static_lifecycle() {
    let env = Env::new("hello");
    let orch = env.orchestrator().await;
    let port = free_port();
    let (sink, mut events) = ProgressSink::channel();

    // install
    let report = orch
        .install(
            InstallRequest::new(release("hello-static")).port(18080, port),
            &sink,
        )
        .await
        .unwrap();
    assert_eq!(report.web_url, Some(format!("http://127.0.0.1:{port}/")));
    let progress = drain(&mut events);
    assert_done(&progress);
    for stage in [
        Stage::Verify,
        Stage::Images,
        Stage::Containers,
        Stage::Health,
    ] {
        assert!(
            progress.iter().any(|p| p.stage == stage),
            "no {stage:?} event"
        );
    }
    let (code, body) = http_get(port, "/").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("Hello from atoll"), "{body}");
    let ps = orch.ps().await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].state, AppState::Ready);
    assert_eq!(ps[0].containers[0].health, HealthStatus::Healthy);
    assert_eq!(ps[0].containers[0].ports[0].host, port);
    let id = ps[0].containers[0].id.clone().unwrap();
    // Published on loopback only.
    let inspect = env.inspect(&id).unwrap();
    assert_eq!(
        inspect["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"],
        "127.0.0.1"
    );
    assert_eq!(inspect["Config"]["Labels"]["io.atoll.managed"], "true");

    // The CLI fallback (used while the API is down) lists the same as the API.
    let labels = [("io.atoll.node", env.node.as_str())];
    let api = orch.podman().list_containers(&labels).await.unwrap();
    let cli = atoll_orchestrator::podman::cli::list_containers(orch.host(), &labels)
        .await
        .unwrap();
    let key = |l: &atoll_orchestrator::podman::types::ListedContainer| {
        (
            l.id.clone(),
            l.name().to_owned(),
            l.state.clone(),
            l.pid,
            l.labels.clone(),
        )
    };
    assert_eq!(
        cli.iter().map(key).collect::<Vec<_>>(),
        api.iter().map(key).collect::<Vec<_>>()
    );

    // logs (busybox httpd -f logs nothing by default, but the call works)
    orch.logs("hello-static", "web", Some(10)).await.unwrap();

    // restart: same container, new process
    let pid = inspect["State"]["Pid"].as_i64().unwrap();
    orch.restart("hello-static", &sink).await.unwrap();
    assert_done(&drain(&mut events));
    let after = env.inspect(&id).expect("same container after a restart");
    assert_ne!(after["State"]["Pid"].as_i64().unwrap(), pid);
    assert_eq!(http_get(port, "/").unwrap().0, 200);

    // stop: stays stopped, also across passes
    orch.stop("hello-static", &sink).await.unwrap();
    assert_done(&drain(&mut events));
    assert!(http_get(port, "/").is_none());
    orch.reconcile_now().await;
    let s = orch.status("hello-static").await.unwrap();
    assert_eq!(s.state, AppState::Stopped);
    assert!(s.stopped_by_user);
    assert_ne!(s.containers[0].state, Some(ContainerState::Running));

    // start
    orch.start("hello-static", &sink).await.unwrap();
    assert_done(&drain(&mut events));
    assert_eq!(http_get(port, "/").unwrap().0, 200);

    // update to a newer version with another env: the container is recreated
    let v2 = release_with("hello-static", |m| {
        m.version = "1.0.1".parse().unwrap();
        m.containers[0].env.insert("GREETING".into(), "hi".into());
    });
    let up = orch
        .update("hello-static", v2.clone(), &sink)
        .await
        .unwrap();
    assert_eq!(up.to.to_string(), "1.0.1");
    assert_done(&drain(&mut events));
    let s = until_ready(&orch, "hello-static").await;
    assert_eq!(s.version.to_string(), "1.0.1");
    let new_id = s.containers[0].id.clone().unwrap();
    assert_ne!(new_id, id);
    let env_list = env.inspect(&new_id).unwrap()["Config"]["Env"].clone();
    assert!(env_list
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "GREETING=hi"));
    // Not newer: refused, nothing changes.
    assert!(orch.update("hello-static", v2, &sink).await.is_err());
    assert_eq!(drain(&mut events).pop().unwrap().stage, Stage::Failed);

    // uninstall with purge: nothing left, no ghost, and its image removed from podman
    assert!(!env.podman_ok(&["images", "-q"]).trim().is_empty());
    orch.uninstall("hello-static", true, &sink).await.unwrap();
    assert_eq!(
        env.podman_ok(&["images", "-q"]).trim(),
        "",
        "the purge left the image"
    );
    assert_done(&drain(&mut events));
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(orch.store().list().await.unwrap().is_empty());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    assert!(!env.data.join("apps/hello-static").exists());
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notebook_keeps_its_data_and_secret() {
    let env = Env::new("notebook");
    let orch = env.orchestrator().await;
    let port = free_port();
    let sink = ProgressSink::none();
    let install = || InstallRequest::new(release("notebook")).port(18081, port);
    orch.install(install(), &sink).await.unwrap();
    assert_eq!(visit(port).0, 1);
    let (count, key) = visit(port);
    assert_eq!(count, 2);
    assert!(key.starts_with("key set: 32 characters"), "{key}");

    // The secret is a 0600 file under the app's data dir; the volume a dir beside it.
    let app_dir = env.data.join("apps/notebook");
    let secret = std::fs::metadata(app_dir.join("secrets/notebook-key")).unwrap();
    assert_eq!(secret.mode() & 0o777, 0o600);
    let volume = app_dir.join("volumes/data");
    assert_eq!(std::fs::metadata(&volume).unwrap().uid(), env.uid);
    assert!(volume.join("notes.txt").is_file());

    // restart and update keep data and secret
    orch.restart("notebook", &sink).await.unwrap();
    assert_eq!(visit(port), (3, key.clone()));
    let v2 = release_with("notebook", |m| {
        m.version = "1.1.0".parse().unwrap();
        m.containers[0]
            .env
            .insert("NOTEBOOK_TITLE".into(), "Guest book".into());
    });
    orch.update("notebook", v2, &sink).await.unwrap();
    assert_eq!(visit(port), (4, key.clone()));

    // uninstall keeps the data (and the image); a reinstall under the same name finds it
    orch.uninstall("notebook", false, &sink).await.unwrap();
    assert!(!env.podman_ok(&["images", "-q"]).trim().is_empty());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    assert!(volume.join("notes.txt").is_file());
    orch.install(install(), &sink).await.unwrap();
    assert_eq!(visit(port), (5, key));

    // purge deletes it
    orch.uninstall("notebook", true, &sink).await.unwrap();
    assert!(!app_dir.exists());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tier_talks_over_its_private_network() {
    let env = Env::new("twotier");
    let orch = env.orchestrator().await;
    let port = free_port();
    let sink = ProgressSink::none();
    orch.install(
        InstallRequest::new(release("two-tier")).port(18082, port),
        &sink,
    )
    .await
    .unwrap();
    let s = orch.status("two-tier").await.unwrap();
    assert_eq!(s.state, AppState::Ready);
    // The api publishes nothing: its health check ran inside its network namespace.
    assert!(s.containers[0].ports.is_empty());
    assert_eq!(s.containers[0].name, "api");
    assert_eq!(s.containers[0].health, HealthStatus::Healthy);
    let (code, body) = http_get(port, "/cgi-bin/index.cgi").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("hello from the api container"), "{body}");
    let net = env.labelled().networks;
    assert_eq!(net, ["atoll_two-tier"]);

    orch.stop("two-tier", &sink).await.unwrap();
    let s = orch.status("two-tier").await.unwrap();
    assert!(
        s.containers
            .iter()
            .all(|c| c.state != Some(ContainerState::Running)),
        "{s:?}"
    );
    orch.start("two-tier", &sink).await.unwrap();
    let (code, _) = http_get(port, "/cgi-bin/index.cgi").unwrap();
    assert_eq!(code, 200);
    orch.uninstall("two-tier", false, &sink).await.unwrap();
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_archive_is_never_loaded() {
    let env = Env::new("tamper");
    let orch = env.orchestrator().await;
    let good = release("hello-static");
    let mut artifacts = BTreeMap::new();
    artifacts.insert(
        "images/web.oci.tar".to_owned(),
        atoll_registry::Hash::of(b"not the archive"),
    );
    let bad =
        atoll_orchestrator::Release::new(good.manifest.clone(), &good.artifact_dir, artifacts)
            .unwrap();
    let (sink, mut events) = ProgressSink::channel();
    let err = orch
        .install(InstallRequest::new(bad).port(18080, free_port()), &sink)
        .await
        .unwrap_err();
    assert!(
        matches!(err, InstallError::Image(ImageError::HashMismatch { .. })),
        "{err}"
    );
    let last = drain(&mut events).pop().unwrap();
    assert_eq!(last.stage, Stage::Failed);
    assert!(
        last.message.contains("refusing to load"),
        "{}",
        last.message
    );
    // Never loaded, nothing recorded, nothing created.
    let images = env.podman_ok(&["images", "-q"]);
    assert!(images.trim().is_empty(), "{images}");
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(env.labelled().is_empty());
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_container_is_restarted_from_the_events_stream() {
    // No periodic pass during the test: only the events stream can trigger the restart.
    let env = Env::new("events");
    let mut config = env.config();
    config.resync = Duration::from_secs(3600);
    let orch = env.orchestrator_with(config).await;
    let port = free_port();
    orch.install(
        InstallRequest::new(release("hello-static")).port(18080, port),
        &ProgressSink::none(),
    )
    .await
    .unwrap();
    let name = "atoll_hello-static_web";
    let pid = env.inspect(name).unwrap()["State"]["Pid"].as_i64().unwrap();
    // kill -9 the process only: conmon sees the exit, podman emits `died`.
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let new_pid = eventually("a restarted process", || {
        let i = env.inspect(name)?;
        let p = i["State"]["Pid"].as_i64()?;
        (i["State"]["Status"] == "running" && p != pid && p > 0).then_some(p)
    })
    .await;
    assert_ne!(new_pid, pid);
    let s = until_ready(&orch, "hello-static").await;
    assert_eq!(s.containers[0].restarts, 1);
    // The pass the `died` event triggers can run before podman has recorded the exit:
    // podman then still says running while the process and its conmon are gone, which the
    // node handles as a zombie (removed and recreated). Either way it is one restart with
    // the failure recorded.
    assert!(
        s.containers[0]
            .last_failure
            .as_deref()
            .is_some_and(|f| f.contains("exited") || f.starts_with("zombie:")),
        "{s:?}"
    );
    orch.uninstall("hello-static", true, &ProgressSink::none())
        .await
        .unwrap();
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_while_running_is_recreated() {
    // Passes only when asked, so the hand edit below cannot race the loop.
    let env = Env::new("drift");
    let mut config = env.config();
    config.resync = Duration::from_secs(3600);
    config.follow_events = false;
    let orch = env.orchestrator_with(config).await;
    let port = free_port();
    orch.install(
        InstallRequest::new(release("hello-static")).port(18080, port),
        &ProgressSink::none(),
    )
    .await
    .unwrap();
    let name = "atoll_hello-static_web";
    let hand = crate::faults::recreate_by_hand(&env, name, "GREETING", "tampered");
    orch.reconcile_now().await;
    let s = until_ready(&orch, "hello-static").await;
    let id = s.containers[0].id.clone().unwrap();
    assert_ne!(id, hand, "the hand-made container was kept");
    let env_list = env.inspect(&id).unwrap()["Config"]["Env"].clone();
    assert!(
        env_list
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "GREETING=hello"),
        "{env_list}"
    );
    assert_eq!(http_get(port, "/").unwrap().0, 200);
    orch.uninstall("hello-static", true, &ProgressSink::none())
        .await
        .unwrap();
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombie_stopped_by_hand_is_recovered() {
    // PODMAN-NOTES: after kill -9 of the process and its conmon, `podman stop` wedges the
    // zombie. Passes only when asked, so the hand stop cannot race the loop.
    let env = Env::new("wedge");
    let mut config = env.config();
    config.resync = Duration::from_secs(3600);
    config.follow_events = false;
    let orch = env.orchestrator_with(config).await;
    let port = free_port();
    orch.install(
        InstallRequest::new(release("hello-static")).port(18080, port),
        &ProgressSink::none(),
    )
    .await
    .unwrap();
    let name = "atoll_hello-static_web";
    let before = env.inspect(name).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.kill_with_conmon(name);
    let stop = env.podman(&["stop", name]);
    let state = env.inspect(name).unwrap()["State"]["Status"].clone();
    println!(
        "podman stop of a zombie: {} {:?}; state now {state}",
        stop.status,
        String::from_utf8_lossy(&stop.stderr).trim()
    );
    orch.reconcile_now().await;
    let s = until_ready(&orch, "hello-static").await;
    assert_eq!(http_get(port, "/").unwrap().0, 200);
    let after = s.containers[0].id.clone().unwrap();
    let i = env.inspect(&after).unwrap();
    assert_eq!(i["State"]["Status"], "running");
    assert!(crate::harness::pid_alive(
        i["State"]["Pid"].as_i64().unwrap()
    ));
    assert_ne!(before, after, "the wedged zombie was reused");
    let st = orch.status("hello-static").await.unwrap();
    assert!(
        st.containers[0]
            .last_failure
            .as_deref()
            .is_none_or(|f| !f.contains("unhealthy")),
        "recovered only through a failed health check: {st:?}"
    );
    orch.uninstall("hello-static", true, &ProgressSink::none())
        .await
        .unwrap();
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_looping_install_fails_cleanly() {
    // Exits at once, every time: restarted with backoff until the install gives up and
    // undoes itself, with a clear error and nothing left behind.
    let env = Env::new("crashloop");
    let orch = env.orchestrator().await;
    let crashing = release_with("hello-static", |m| {
        m.containers[0].command = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo bye >&2; exit 3".into(),
        ]);
    });
    let (sink, mut events) = ProgressSink::channel();
    let err = orch
        .install(
            InstallRequest::new(crashing).port(18080, free_port()),
            &sink,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            InstallError::NotReady {
                reason: atoll_orchestrator::WaitError::Failing { .. },
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("exited with code 3"), "{text}");
    let last = drain(&mut events).pop().unwrap();
    assert_eq!(last.stage, Stage::Failed);
    assert_eq!(last.message, text);
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(orch.store().list().await.unwrap().is_empty());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_uninstall_is_reported_and_finished_later() {
    // A container that is not ours joins the app's network: the network cannot be removed,
    // and the foreign container must not be touched. The uninstall reports it, the app
    // stays listed as removing (what is reported is what exists), and the loop finishes the
    // job once the obstacle is gone.
    let env = Env::new("blocked");
    let orch = env.orchestrator().await;
    orch.install(
        InstallRequest::new(release("hello-static")).port(18080, free_port()),
        &ProgressSink::none(),
    )
    .await
    .unwrap();
    let image = env.inspect("atoll_hello-static_web").unwrap()["Image"]
        .as_str()
        .unwrap()
        .to_owned();
    env.podman_ok(&[
        "run",
        "-d",
        "--name",
        "intruder",
        "--network",
        "atoll_hello-static",
        &image,
        "sleep",
        "600",
    ]);
    let err = orch
        .uninstall("hello-static", false, &ProgressSink::none())
        .await
        .unwrap_err();
    assert!(
        matches!(err, atoll_orchestrator::UninstallError::Incomplete { .. }),
        "{err}"
    );
    let s = orch.status("hello-static").await.unwrap();
    assert_eq!(s.state, AppState::Removing);
    assert!(s.last_error.is_some(), "{s:?}");
    assert_eq!(s.containers[0].state, None);
    assert_eq!(env.labelled().networks, ["atoll_hello-static"]);
    assert!(
        env.inspect("intruder").is_some(),
        "a foreign container was touched"
    );
    env.podman_ok(&["rm", "-f", "-t", "0", "intruder"]);
    orch.reconcile_now().await;
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(orch.store().list().await.unwrap().is_empty());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

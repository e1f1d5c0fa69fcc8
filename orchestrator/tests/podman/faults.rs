//! The fault matrix, five rounds in a row on one isolated podman instance: zombie, podman
//! service killed, SIGTERM ignored, drift, node restart (adoption), simulated reboot,
//! failed update (rollback), uninstall (nothing left, no ghost).

use std::collections::BTreeMap;
use std::time::Duration;

use atoll_orchestrator::{
    AppState, Config, ContainerState, InstallRequest, Orchestrator, ProgressSink, UpdateError,
    WaitError,
};
use atoll_registry::manifest::quantity;

use crate::harness::{free_port, http_get, release, release_with, until_ready, Env};

/// Remove a container by hand and create it again with every setting and label copied,
/// except one environment variable. Returns the new container's id. The orchestrator must
/// not be acting meanwhile (stopped, or with events and resync off).
pub fn recreate_by_hand(env: &Env, name: &str, key: &str, value: &str) -> String {
    let i = env
        .inspect(name)
        .unwrap_or_else(|| panic!("no container {name}"));
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.into()];
    for (k, v) in i["Config"]["Labels"].as_object().unwrap() {
        args.push("--label".into());
        args.push(format!("{k}={}", v.as_str().unwrap()));
    }
    for kv in i["Config"]["Env"].as_array().unwrap() {
        let kv = kv.as_str().unwrap();
        let k = kv.split('=').next().unwrap();
        args.push("-e".into());
        args.push(if k == key {
            format!("{key}={value}")
        } else {
            kv.to_owned()
        });
    }
    if let Some(ports) = i["HostConfig"]["PortBindings"].as_object() {
        for (port, bindings) in ports {
            for b in bindings.as_array().into_iter().flatten() {
                args.push("-p".into());
                args.push(format!(
                    "{}:{}:{port}",
                    b["HostIp"].as_str().unwrap(),
                    b["HostPort"].as_str().unwrap()
                ));
            }
        }
    }
    for m in i["Mounts"].as_array().into_iter().flatten() {
        if m["Type"] == "bind" {
            args.push("-v".into());
            args.push(format!(
                "{}:{}",
                m["Source"].as_str().unwrap(),
                m["Destination"].as_str().unwrap()
            ));
        }
    }
    if let Some(nets) = i["NetworkSettings"]["Networks"].as_object() {
        for (net, cfg) in nets {
            args.push("--network".into());
            args.push(net.clone());
            if let Some(alias) = cfg["Aliases"][0].as_str() {
                args.push("--network-alias".into());
                args.push(alias.into());
            }
        }
    }
    args.push("--stop-timeout".into());
    args.push(i["Config"]["StopTimeout"].to_string());
    if i["HostConfig"]["Init"] == true {
        args.push("--init".into());
    }
    if i["HostConfig"]["ReadonlyRootfs"] == true {
        args.push("--read-only".into());
    }
    if let Some(u) = i["Config"]["User"].as_str().filter(|u| !u.is_empty()) {
        args.push("--user".into());
        args.push(u.into());
    }
    args.push(i["Image"].as_str().unwrap().into());
    for a in i["Config"]["Cmd"].as_array().unwrap() {
        args.push(a.as_str().unwrap().into());
    }
    env.podman_ok(&["rm", "-f", "-t", "0", name]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    env.podman_ok(&refs).trim().to_owned()
}

/// One installed app of a round.
struct App {
    name: String,
    port: u16,
}

fn container_id(env: &Env, app: &str, container: &str) -> String {
    env.inspect(&format!("atoll_{app}_{container}"))
        .and_then(|i| i["Id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no container {container} of {app}"))
}

fn started_at(env: &Env, id: &str) -> String {
    env.inspect(id).unwrap()["State"]["StartedAt"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn notes_count(port: u16) -> u32 {
    let (code, body) = http_get(port, "/cgi-bin/index.cgi").expect("notebook answers");
    assert_eq!(code, 200, "{body}");
    let start = body.find("<span id=\"count\">").unwrap() + "<span id=\"count\">".len();
    body[start..].split('<').next().unwrap().parse().unwrap()
}

async fn install(
    orch: &Orchestrator,
    id: &str,
    name: &str,
    port: u16,
    rel: atoll_orchestrator::Release,
) -> App {
    let manifest_port = rel.manifest.web_port().map(|(_, p)| p.host).unwrap();
    orch.install(
        InstallRequest::new(rel)
            .name(name)
            .port(manifest_port, port),
        &ProgressSink::none(),
    )
    .await
    .unwrap_or_else(|e| panic!("install {id} as {name}: {e}"));
    App {
        name: name.to_owned(),
        port,
    }
}

/// hello-static, but PID 1's child ignores SIGTERM: `stop` must kill it at the grace.
fn sigterm_ignoring() -> atoll_orchestrator::Release {
    release_with("hello-static", |m| {
        let c = &mut m.containers[0];
        c.command = Some(vec![
            "sh".into(),
            "-c".into(),
            "trap '' TERM; exec httpd -f -p 8080 -h /www".into(),
        ]);
        c.stop_grace = Some(quantity::Duration(2000));
    })
}

/// notebook 1.0.1 whose health check never passes.
fn failing_notebook() -> atoll_orchestrator::Release {
    release_with("notebook", |m| {
        m.version = "1.0.1".parse().unwrap();
        let h = m.containers[0].health.as_mut().unwrap();
        h.http.as_mut().unwrap().path = "/no-such-page".into();
        h.interval = quantity::Duration(1000);
        h.start_period = quantity::Duration(0);
        h.retries = 2;
    })
}

async fn round(env: &Env, config: &Config, mut orch: Orchestrator, r: usize) -> Orchestrator {
    let sink = ProgressSink::none();
    let hs = install(
        &orch,
        "hello-static",
        &format!("hs{r}"),
        free_port(),
        release("hello-static"),
    )
    .await;
    let tt = install(
        &orch,
        "two-tier",
        &format!("tt{r}"),
        free_port(),
        release("two-tier"),
    )
    .await;
    let nb = install(
        &orch,
        "notebook",
        &format!("nb{r}"),
        free_port(),
        release("notebook"),
    )
    .await;
    let term = install(
        &orch,
        "hello-static",
        &format!("term{r}"),
        free_port(),
        sigterm_ignoring(),
    )
    .await;
    assert_eq!(notes_count(nb.port), 1);

    // 1. Zombie: kill -9 the process and its conmon. podman keeps saying `running` with
    //    the dead PID (nothing is left to tell it); the loop must notice by itself.
    let zombie = container_id(env, &hs.name, "web");
    env.kill_with_conmon(&zombie);
    orch.reconcile_now().await;
    let s = until_ready(&orch, &hs.name).await;
    let recreated = s.containers[0].id.clone().unwrap();
    assert_ne!(recreated, zombie, "round {r}: zombie not recreated");
    assert!(
        env.inspect(&zombie).is_none(),
        "round {r}: zombie still exists"
    );
    assert_eq!(http_get(hs.port, "/").unwrap().0, 200);

    // 2. The API service is killed: reconnected (restarted), containers untouched.
    let before = env.containers();
    let pid = orch
        .service_pid()
        .expect("the orchestrator runs the service");
    let starts = orch.service_starts();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    // `ps` tells the truth meanwhile (through the CLI while the API is down).
    let ps = orch.ps().await.unwrap();
    assert_eq!(ps.len(), 4);
    let listed: BTreeMap<String, String> = ps
        .iter()
        .flat_map(|a| {
            a.containers.iter().map(move |c| {
                (
                    format!("atoll_{}_{}", a.name, c.name),
                    c.id.clone().unwrap_or_default(),
                )
            })
        })
        .collect();
    assert_eq!(listed, before, "round {r}: ps while the service was down");
    orch.reconcile_now().await;
    assert!(
        orch.service_starts() > starts,
        "round {r}: service not restarted"
    );
    assert_ne!(orch.service_pid(), Some(pid));
    assert_eq!(env.containers(), before, "round {r}: containers changed");
    for a in [&hs, &tt, &nb, &term] {
        until_ready(&orch, &a.name).await;
    }
    // The events stream is followed again on the new service: a crash is seen from it
    // (there are no periodic passes in this test).
    let web = format!("atoll_{}_web", hs.name);
    let old_pid = env.inspect(&web).unwrap()["State"]["Pid"].as_i64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &old_pid.to_string()])
        .status()
        .unwrap();
    crate::harness::eventually("the crashed container restarted from an event", || {
        let i = env.inspect(&web)?;
        let p = i["State"]["Pid"].as_i64()?;
        (i["State"]["Status"] == "running" && p != old_pid && p > 0).then_some(())
    })
    .await;
    until_ready(&orch, &hs.name).await;

    // 3. A container that ignores SIGTERM stops at its grace, killed (137).
    orch.stop(&term.name, &sink).await.unwrap();
    let t = env.inspect(&container_id(env, &term.name, "web")).unwrap();
    assert_eq!(t["State"]["Status"], "exited");
    assert_eq!(
        t["State"]["ExitCode"], 137,
        "round {r}: not killed at the grace"
    );

    // 4. Node restart with a container recreated by hand meanwhile (drift): every other
    //    container is adopted with the same id and start time; the drifted one is recreated.
    let hs_id = container_id(env, &hs.name, "web");
    let tt_ids = (
        container_id(env, &tt.name, "api"),
        container_id(env, &tt.name, "front"),
    );
    let hs_started = started_at(env, &hs_id);
    let service = orch
        .service_pid()
        .expect("the orchestrator runs the service");
    orch.shutdown().await;
    // The API service it started stops with it (containers keep running).
    crate::harness::eventually("the API service to stop with its orchestrator", || {
        (!crate::harness::pid_alive(i64::from(service))).then_some(())
    })
    .await;
    let nb_name = format!("atoll_{}_web", nb.name);
    let hand = recreate_by_hand(env, &nb_name, "NOTEBOOK_TITLE", "tampered");
    orch = env.orchestrator_with(config.clone()).await;
    orch.reconcile_now().await;
    for a in [&hs, &tt, &nb] {
        until_ready(&orch, &a.name).await;
    }
    assert_eq!(
        container_id(env, &hs.name, "web"),
        hs_id,
        "round {r}: not adopted"
    );
    assert_eq!(
        started_at(env, &hs_id),
        hs_started,
        "round {r}: adopted container restarted"
    );
    assert_eq!(
        (
            container_id(env, &tt.name, "api"),
            container_id(env, &tt.name, "front")
        ),
        tt_ids
    );
    let nb_id = container_id(env, &nb.name, "web");
    assert_ne!(nb_id, hand, "round {r}: drifted container kept");
    let env_list = env.inspect(&nb_id).unwrap()["Config"]["Env"].clone();
    assert!(
        env_list
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "NOTEBOOK_TITLE=Visitor notebook"),
        "round {r}: {env_list}"
    );
    assert_eq!(
        notes_count(nb.port),
        2,
        "round {r}: data lost by the recreation"
    );
    let s = orch.status(&term.name).await.unwrap();
    assert_eq!(s.state, AppState::Stopped);

    // 5. Simulated reboot: wanted apps run again, the user-stopped one does not.
    orch.shutdown().await;
    env.simulate_reboot();
    let states = env.podman_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(
        !states.contains("running"),
        "round {r}: something survived the reboot: {states}"
    );
    orch = env.orchestrator_with(config.clone()).await;
    for a in [&hs, &tt, &nb] {
        until_ready(&orch, &a.name).await;
    }
    assert_eq!(http_get(hs.port, "/").unwrap().0, 200);
    let (code, body) = http_get(tt.port, "/cgi-bin/index.cgi").unwrap();
    assert_eq!(code, 200, "round {r}: {body}");
    assert_eq!(
        notes_count(nb.port),
        3,
        "round {r}: data lost in the reboot"
    );
    orch.reconcile_now().await;
    let s = orch.status(&term.name).await.unwrap();
    assert_eq!(
        s.state,
        AppState::Stopped,
        "round {r}: user-stopped app resurrected"
    );
    assert!(
        s.containers
            .iter()
            .all(|c| c.state != Some(ContainerState::Running)),
        "{s:?}"
    );
    assert!(http_get(term.port, "/").is_none());

    // 6. A failed update is rolled back; data and secret intact.
    let secret = std::fs::read(
        env.data
            .join(format!("apps/{}/secrets/notebook-key", nb.name)),
    )
    .unwrap();
    let err = orch
        .update(&nb.name, failing_notebook(), &sink)
        .await
        .unwrap_err();
    match &err {
        UpdateError::RolledBack {
            restored, reason, ..
        } => {
            assert_eq!(restored.to_string(), "1.0.0");
            assert!(matches!(reason, WaitError::Unhealthy { .. }), "{reason}");
        }
        other => panic!("round {r}: expected a rollback, got {other}"),
    }
    let s = until_ready(&orch, &nb.name).await;
    assert_eq!(s.version.to_string(), "1.0.0");
    assert_eq!(
        env.inspect(&container_id(env, &nb.name, "web")).unwrap()["Config"]["Labels"]
            ["io.atoll.version"],
        "1.0.0"
    );
    assert_eq!(
        notes_count(nb.port),
        4,
        "round {r}: data lost in the rollback"
    );
    assert_eq!(
        std::fs::read(
            env.data
                .join(format!("apps/{}/secrets/notebook-key", nb.name))
        )
        .unwrap(),
        secret
    );

    // 7. Uninstall everything: nothing labelled left, no ghost in state; kept data stays.
    for (a, purge) in [(&hs, true), (&tt, false), (&nb, false), (&term, true)] {
        orch.uninstall(&a.name, purge, &sink)
            .await
            .unwrap_or_else(|e| panic!("round {r}: uninstall {}: {e}", a.name));
    }
    assert!(env.labelled().is_empty(), "round {r}: {:?}", env.labelled());
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(
        orch.store().list().await.unwrap().is_empty(),
        "round {r}: ghost in state"
    );
    assert!(env
        .data
        .join(format!("apps/{}/volumes/data/notes.txt", nb.name))
        .is_file());
    assert!(!env.data.join(format!("apps/{}", hs.name)).exists());
    // Nothing lingers either: no conmon, container, network helper or runc state.
    let left = crate::harness::eventually("the instance to quiesce", || {
        let l = env.leftovers();
        l.is_empty().then_some(l)
    })
    .await;
    assert!(left.is_empty());
    orch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_five_times_in_a_row() {
    let env = Env::new("faults");
    // No periodic passes: everything is driven by operations, podman events, health
    // changes and explicit `reconcile_now` calls, so each step proves its own trigger.
    let mut config = env.config();
    config.resync = Duration::from_secs(3600);
    let mut orch = env.orchestrator_with(config.clone()).await;
    let mut times = BTreeMap::new();
    for r in 0..5 {
        let started = std::time::Instant::now();
        orch = round(&env, &config, orch, r).await;
        times.insert(r, started.elapsed());
        println!("fault matrix round {r} green in {:?}", started.elapsed());
    }
    orch.shutdown().await;
    let total: Duration = times.values().sum();
    println!("fault matrix: 5 rounds green in {total:?}");
}

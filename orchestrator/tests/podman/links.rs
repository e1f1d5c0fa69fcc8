//! App dependencies at the orchestrator: a dependent (hello-static) linked to an installed
//! dependency (two-tier) joins its network and reaches its containers as
//! `<app id>-<container>` (here `two-tier-api`), also after a simulated reboot; a link to
//! an app that is not installed is refused before anything is recorded.

use atoll_orchestrator::{AppState, InstallError, InstallRequest, ProgressSink};

use crate::harness::{eventually, free_port, release, until_ready, Env};

/// What the dependent's container gets from `url` (busybox wget inside it; `timeout`, not
/// `wget -T`, which segfaults in Debian 12's busybox-static).
fn fetch_inside(env: &Env, container: &str, url: &str) -> String {
    let out = env.podman(&[
        "exec", container, "timeout", "5", "wget", "-q", "-O", "-", url,
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_app_reaches_its_dependency_by_app_id_and_container() {
    let env = Env::new("links");
    let config = env.config();
    let mut orch = env.orchestrator_with(config.clone()).await;
    let sink = ProgressSink::none();

    let err = orch
        .install(
            InstallRequest::new(release("hello-static"))
                .port(18080, free_port())
                .link("two-tier"),
            &sink,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::MissingLink { .. }), "{err}");
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());

    orch.install(
        InstallRequest::new(release("two-tier")).port(18082, free_port()),
        &sink,
    )
    .await
    .unwrap();
    orch.install(
        InstallRequest::new(release("hello-static"))
            .port(18080, free_port())
            .link("two-tier"),
        &sink,
    )
    .await
    .unwrap();
    let web = "atoll_hello-static_web";
    let networks = env.inspect(web).unwrap()["NetworkSettings"]["Networks"].clone();
    assert!(
        networks["atoll_hello-static"].is_object() && networks["atoll_two-tier"].is_object(),
        "{networks}"
    );
    let aliases = networks["atoll_two-tier"]["Aliases"].to_string();
    assert!(aliases.contains("hello-static-web"), "{aliases}");
    let body = fetch_inside(&env, web, "http://two-tier-api:8080/cgi-bin/status");
    assert!(body.contains("hello from the api container"), "{body:?}");

    // A reboot: both come back, the dependent attached again.
    orch.shutdown().await;
    env.simulate_reboot();
    orch = env.orchestrator_with(config).await;
    until_ready(&orch, "two-tier").await;
    until_ready(&orch, "hello-static").await;
    let body = eventually(
        "the dependent reaches its dependency after the reboot",
        || {
            let b = fetch_inside(&env, web, "http://two-tier-api:8080/cgi-bin/status");
            b.contains("hello from the api container").then_some(b)
        },
    )
    .await;
    assert!(!body.is_empty());
    assert_eq!(
        orch.status("hello-static").await.unwrap().state,
        AppState::Ready
    );

    orch.uninstall("hello-static", false, &sink).await.unwrap();
    orch.uninstall("two-tier", false, &sink).await.unwrap();
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

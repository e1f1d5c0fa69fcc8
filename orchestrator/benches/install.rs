//! Benchmarks on real rootless podman (an isolated instance, like the tests):
//!
//! 1. install-to-healthy of hello-static with its image already loaded, against the same
//!    container started by hand (`podman network create` + `podman run`, then polling its
//!    port every 10 ms), in the same run; reports the ratio of the medians (target <= 1.3x).
//! 2. one reconcile pass with 50 apps installed and running.
//!
//! `cargo bench -p atoll-orchestrator --bench install` (as root, after
//! `scripts/setup-host.sh` and `scripts/build-images.sh`). `ATOLL_BENCH_ROUNDS` sets the
//! rounds of part 1 (default 7), `ATOLL_BENCH_APPS` the apps of part 2 (default 50).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/podman/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use atoll_orchestrator::{InstallRequest, Orchestrator, ProgressSink};
use harness::{free_port, http_get, release, Env};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Install hello-static as `name` on `port` and wait until the orchestrator sees it healthy.
async fn orchestrated(orch: &Orchestrator, name: &str, port: u16) -> Duration {
    let started = Instant::now();
    orch.install(
        InstallRequest::new(release("hello-static"))
            .name(name)
            .port(18080, port),
        &ProgressSink::none(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(http_get(port, "/").map(|r| r.0), Some(200));
    took
}

/// The same container by hand: network, `podman run` with the same options, then poll the
/// published port every 10 ms until it answers 200.
fn by_hand(env: &Env, image: &str, name: &str, port: u16) -> Duration {
    let started = Instant::now();
    env.podman_ok(&["network", "create", &format!("{name}-net")]);
    env.podman_ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        &format!("{name}-net"),
        "--network-alias",
        "web",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "--init",
        "--read-only",
        "--user",
        "0",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        "--stop-timeout",
        "5",
        "-e",
        "GREETING=hello",
        "--label",
        "bench=by-hand",
        image,
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
    ]);
    loop {
        if http_get(port, "/").is_some_and(|r| r.0 == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "by-hand container never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    env.podman_ok(&["rm", "-f", "-t", "0", name]);
    env.podman_ok(&["network", "rm", &format!("{name}-net")]);
    took
}

async fn install_to_healthy(env: &Env, orch: &Orchestrator) {
    let rounds = env_usize("ATOLL_BENCH_ROUNDS", 7);
    // Warm up: loads the image (not measured) and the podman caches on both paths.
    let port = free_port();
    orchestrated(orch, "warmup", port).await;
    let image = env.inspect("atoll_warmup_web").unwrap()["Image"]
        .as_str()
        .unwrap()
        .to_owned();
    orch.uninstall("warmup", true, &ProgressSink::none())
        .await
        .unwrap();
    by_hand(env, &image, "warmup-hand", free_port());

    let mut ours = Vec::new();
    let mut hand = Vec::new();
    for i in 0..rounds {
        let port = free_port();
        ours.push(orchestrated(orch, &format!("b{i}"), port).await);
        orch.uninstall(&format!("b{i}"), true, &ProgressSink::none())
            .await
            .unwrap();
        hand.push(by_hand(env, &image, &format!("hand{i}"), free_port()));
    }
    let (o, h) = (median(ours.clone()), median(hand.clone()));
    let ratio = o.as_secs_f64() / h.as_secs_f64();
    println!("install-to-healthy, hello-static, image loaded, {rounds} rounds");
    println!("  orchestrator install (API, health checked):  median {o:>10.1?}  all {ours:.1?}");
    println!("  podman network create + run + poll by hand:  median {h:>10.1?}  all {hand:.1?}");
    println!(
        "  ratio orchestrator / by hand: {ratio:.2}x (target <= 1.30x: {})",
        if ratio <= 1.3 { "met" } else { "NOT met" }
    );
}

async fn reconcile_pass(orch: &Orchestrator) {
    let apps = env_usize("ATOLL_BENCH_APPS", 50);
    let started = Instant::now();
    for i in 0..apps {
        orch.install(
            InstallRequest::new(release("hello-static"))
                .name(&format!("r{i}"))
                .port(18080, free_port()),
            &ProgressSink::none(),
        )
        .await
        .unwrap();
    }
    println!("reconcile pass with {apps} apps installed and running");
    println!("  (installing them took {:.1?})", started.elapsed());
    let mut passes = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let report = orch.reconcile_now().await;
        passes.push(t.elapsed());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(
            report.actions, 0,
            "a pass over converged apps should do nothing"
        );
    }
    let ps = orch.ps().await.unwrap();
    assert_eq!(ps.len(), apps);
    println!(
        "  one pass: median {:.1?}, min {:.1?}, max {:.1?} (10 passes, nothing to do)",
        median(passes.clone()),
        passes.iter().min().unwrap(),
        passes.iter().max().unwrap()
    );
    let t = Instant::now();
    let first = orch.ps().await.unwrap();
    println!("  ps of {} apps: {:.1?}", first.len(), t.elapsed());
    let started = Instant::now();
    for i in 0..apps {
        orch.uninstall(&format!("r{i}"), true, &ProgressSink::none())
            .await
            .unwrap();
    }
    println!("  (uninstalling them took {:.1?})", started.elapsed());
}

fn main() {
    // `cargo test --benches` lists benches first; there is nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    rt.block_on(async {
        let env = Env::new("bench");
        let mut config = env.config();
        config.resync = Duration::from_secs(3600);
        let orch = env.orchestrator_with(config).await;
        install_to_healthy(&env, &orch).await;
        reconcile_pass(&orch).await;
        orch.shutdown().await;
        assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    });
}

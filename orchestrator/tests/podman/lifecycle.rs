//! The full lifecycle of each sample app.

use atoll_orchestrator::{AppState, HealthStatus, InstallRequest, ProgressSink, Stage};

use crate::harness::{free_port, http_get, release, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_static_lifecycle() {
    let env = Env::new("hello");
    let orch = env.orchestrator().await;
    let port = free_port();
    let (sink, mut events) = ProgressSink::channel();
    let report = orch
        .install(
            InstallRequest::new(release("hello-static")).port(18080, port),
            &sink,
        )
        .await
        .unwrap();
    assert_eq!(
        report.web_url.as_deref(),
        Some(format!("http://127.0.0.1:{port}/").as_str())
    );
    let mut last = None;
    while let Ok(p) = events.try_recv() {
        println!("{p:?}");
        last = Some(p);
    }
    assert_eq!(last.unwrap().stage, Stage::Done);
    let (code, body) = http_get(port, "/").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("Hello from atoll"), "{body}");
    let ps = orch.ps().await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].state, AppState::Ready);
    assert_eq!(ps[0].containers[0].health, HealthStatus::Healthy);

    orch.stop("hello-static", &sink).await.unwrap();
    assert!(http_get(port, "/").is_none());
    orch.start("hello-static", &sink).await.unwrap();
    assert_eq!(http_get(port, "/").unwrap().0, 200);
    orch.uninstall("hello-static", true, &sink).await.unwrap();
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

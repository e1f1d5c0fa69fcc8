//! The node's HTTP API in front of the throwaway node, for the installation attacks: the
//! real router and its install checks, with app operations that only record that they
//! were reached. An install the API refuses never gets that far, so no container runtime
//! is needed (or touched).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use atoll_registry::AppRef;
use tokio::sync::oneshot;

use super::lab::Peer;
use crate::api::jobs::{JobHandle, Jobs};
use crate::api::{self, Action, ActionRequest, ApiState, AppOps, BoxFut, LiveApp};
use crate::node::relays::NodeRelays;

/// App operations that record being reached and fail the job.
#[derive(Default)]
struct Untouchable {
    reached: Arc<AtomicBool>,
}

impl AppOps for Untouchable {
    fn run(
        &self,
        action: Action,
        app: AppRef,
        _req: ActionRequest,
        job: JobHandle,
    ) -> BoxFut<'_, ()> {
        self.reached.store(true, Ordering::SeqCst);
        Box::pin(async move {
            job.fail(format!(
                "conformance: {action:?} of {app} reached the container runtime"
            ));
        })
    }
    fn installed(&self) -> BoxFut<'_, anyhow::Result<Vec<LiveApp>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn web_url(&self, _app: &AppRef) -> BoxFut<'_, Option<String>> {
        Box::pin(async { None })
    }
}

/// The API of the throwaway node, listening on 127.0.0.1:0.
pub struct Api {
    addr: SocketAddr,
    token: String,
    reached: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Api {
    /// Serve the node's router over `peer`'s catalog and discovery.
    pub async fn start(peer: &Peer, tmp: PathBuf) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the throwaway API")?;
        let addr = listener.local_addr()?;
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = hex::encode(secret);
        let ops = Untouchable::default();
        let reached = ops.reached.clone();
        let threshold = crate::node::config::NodeConfig::default()
            .trust
            .install_threshold;
        let state = ApiState {
            catalog: peer.catalog.clone(),
            jobs: Jobs::default(),
            admin_token: Arc::new(token.clone()),
            listen: addr,
            demo: false,
            demo_publisher: None,
            blob_dirs: Arc::new(Vec::new()),
            ops: Arc::new(ops),
            net: Arc::new(crate::node::swarm::Swarm::new(
                peer.d.clone(),
                peer.catalog.clone(),
            )),
            relays: NodeRelays::new(peer.d.clone(), peer.catalog.clone(), &[], threshold),
            install_threshold: threshold,
            upload: api::UploadConfig {
                tmp_dir: tmp,
                max_bytes: 1024 * 1024,
            },
            auto_update: Arc::default(),
            backups: None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::server::serve(
            listener,
            api::router(state),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            token,
            reached,
            stop: Some(stop),
            task,
        })
    }

    /// `POST /api/v1/actions/install` for `app` (trust override on: only the other checks
    /// count); the status code and the guard's refusal codes (`error.reasons`).
    pub async fn install(&self, app: &AppRef) -> Result<(u16, Vec<String>)> {
        let resp = reqwest::Client::new()
            .post(format!("http://{}/api/v1/actions/install", self.addr))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "app": app.to_string(), "override_trust": true }))
            .send()
            .await
            .context("calling the throwaway API")?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let reasons = body["error"]["reasons"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x["reason"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok((status, reasons))
    }

    /// Did any action reach the app operations (the container runtime)?
    pub fn reached_runtime(&self) -> bool {
        self.reached.load(Ordering::SeqCst)
    }

    /// Stop serving.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

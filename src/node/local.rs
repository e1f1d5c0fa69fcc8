//! What the node plugs into the API when a part is missing: without podman, actions fail
//! with the reason; without sync, the network view shows the relays as not connected.

use atoll_registry::AppRef;
use serde_json::{json, Value};

use crate::api::jobs::JobHandle;
use crate::api::BoxFut;
use crate::api::{Action, ActionRequest, AppOps, NetworkInfo};

use super::config::Config;

/// No container runtime could be started; says why on every action.
pub struct NoRuntime {
    why: String,
}

impl NoRuntime {
    /// Runtime-less ops, with the reason the runtime is missing.
    pub fn new(why: String) -> Self {
        Self { why }
    }
}

impl AppOps for NoRuntime {
    fn run(
        &self,
        action: Action,
        app: AppRef,
        _req: ActionRequest,
        job: JobHandle,
    ) -> BoxFut<'_, ()> {
        Box::pin(async move {
            job.fail(format!(
                "cannot {action:?} {app}: this node has no container runtime ({})",
                self.why
            ));
        })
    }
    fn installed(&self) -> BoxFut<'_, anyhow::Result<Vec<Value>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn logs(&self, app: AppRef, _tail: usize) -> BoxFut<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move { anyhow::bail!("{app} is not running on this node") })
    }
    fn web_url(&self, _app: &AppRef) -> BoxFut<'_, Option<String>> {
        Box::pin(async { None })
    }
}

/// The network view of a node without sync.
pub struct LocalNetwork {
    relays: Vec<String>,
}

impl LocalNetwork {
    /// From the configuration.
    pub fn new(cfg: &Config) -> Self {
        let mut relays = Vec::new();
        if cfg.relays.embedded {
            relays.push(format!(
                "ws://127.0.0.1:{} (embedded)",
                cfg.relays.embedded_port
            ));
        }
        relays.extend(cfg.relays.external.iter().cloned());
        Self { relays }
    }
}

impl NetworkInfo for LocalNetwork {
    fn snapshot(&self) -> BoxFut<'_, Value> {
        Box::pin(async move {
            json!({
                "node": { "sync": "not running" },
                "relays": self.relays.iter().map(|r| json!({"url": r, "status": "not connected", "events": 0, "cursor": null})).collect::<Vec<_>>(),
                "peers": [],
                "sync": { "state": "not running" },
            })
        })
    }
}

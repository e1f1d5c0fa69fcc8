//! What the node plugs into the API when podman cannot be used: the marketplace still
//! works, and every action fails with the reason.

use crate::api::jobs::JobHandle;
use crate::api::BoxFut;
use crate::api::{Action, ActionRequest, AppOps, LiveApp};
use atoll_registry::AppRef;

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
    fn installed(&self) -> BoxFut<'_, anyhow::Result<Vec<LiveApp>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn web_url(&self, _app: &AppRef) -> BoxFut<'_, Option<String>> {
        Box::pin(async { None })
    }
}

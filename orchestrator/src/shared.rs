//! State shared by the actor, the health tasks, the events watcher and the operations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Config;
use crate::health::ProbeEnv;
use crate::host::PodmanHost;
use crate::podman::Podman;
use crate::runtime::RuntimeFacts;
use crate::service::Supervisor;
use crate::store::DesiredState;

/// Everything the parts of the orchestrator share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub host: PodmanHost,
    pub podman: Podman,
    pub service: Supervisor,
    pub store: Arc<dyn DesiredState>,
    /// The node's backups (`<data>/backups`).
    pub backups: Arc<crate::backup::BackupStore>,
    pub runtime: Mutex<RuntimeFacts>,
    /// Bumped whenever the runtime table changes (operations wait on it).
    pub changed: tokio::sync::watch::Sender<u64>,
    /// Wakes the actor for an early pass.
    pub wake: tokio::sync::Notify,
    pub probe_env: ProbeEnv,
    /// One operation at a time per app.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    pub fn new(
        config: Config,
        host: PodmanHost,
        podman: Podman,
        service: Supervisor,
        store: Arc<dyn DesiredState>,
    ) -> Self {
        let probe_env = ProbeEnv {
            podman: podman.clone(),
            host: host.clone(),
            can_setns: rustix::process::geteuid().is_root(),
        };
        Self {
            backups: Arc::new(crate::backup::BackupStore::new(&config.data_dir)),
            config,
            host,
            podman,
            service,
            store,
            runtime: Mutex::new(RuntimeFacts::default()),
            changed: tokio::sync::watch::channel(0).0,
            wake: tokio::sync::Notify::new(),
            probe_env,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime facts table (a panic elsewhere never makes it unusable).
    pub fn runtime(&self) -> MutexGuard<'_, RuntimeFacts> {
        self.runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tell waiters that something changed.
    pub fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Forget an app's restart backoff (an operator action wants it started now).
    pub fn reset_backoff(&self, app: &str) {
        let mut rt = self.runtime();
        for ((a, _), e) in rt.containers.iter_mut() {
            if a == app {
                e.streak = 0;
                e.not_before = None;
            }
        }
    }

    /// Serialise operations on one app.
    pub async fn lock_app(&self, app: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(app.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

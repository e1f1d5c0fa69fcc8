//! The public handle: [`Orchestrator`] is cheap to clone; it holds the command sender of the
//! reconcile actor and the shared state. The operations live in [`crate::ops`].

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::actor::{self, ActorCommand};
use crate::config::Config;
use crate::error::{DataError, StartError};
use crate::host::PodmanHost;
use crate::podman::Podman;
use crate::progress::ProgressSink;
use crate::reconcile::PassReport;
use crate::service::Supervisor;
use crate::shared::Shared;
use crate::store::DesiredState;

/// Runs installed apps on rootless podman and keeps them as wanted. See the crate docs.
#[derive(Debug, Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<ActorCommand>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

impl Orchestrator {
    /// Start with the given desired-state store (the node's lives in its catalog file;
    /// tests use a [`crate::MemoryStore`]): resolve the podman user, prepare the data
    /// dir, make sure the API service answers (starting it if needed), then start the
    /// reconcile loop. Its first pass adopts the containers that already match.
    pub async fn open(config: Config, store: Arc<dyn DesiredState>) -> Result<Self, StartError> {
        if !atoll_registry::names::is_dns_label(&config.node) {
            return Err(StartError::NodeId(config.node.clone()));
        }
        let host = PodmanHost::resolve(&config.podman)?;
        let data = &config.data_dir;
        if !data.is_dir() {
            std::fs::create_dir_all(data).map_err(|source| DataError::Io {
                op: "create",
                path: data.clone(),
                source,
            })?;
            std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o711)).map_err(
                |source| DataError::Io {
                    op: "chmod",
                    path: data.clone(),
                    source,
                },
            )?;
        }
        if host.switches_user() {
            crate::volumes::check_traversable(data, host.uid())?;
        }
        let podman = Podman::new(host.socket());
        let service = Supervisor::new(host.clone(), podman.clone());
        service.ensure().await?;
        let follow = config.follow_events;
        let shared = Arc::new(Shared::new(config, host, podman, service, store));
        let (tx, rx) = mpsc::channel(64);
        let mut tasks = vec![tokio::spawn(actor::run(shared.clone(), rx))];
        if follow {
            tasks.push(tokio::spawn(actor::follow_events(shared.clone())));
        }
        tracing::info!(node = %shared.config.node, socket = %shared.host.socket().display(), "orchestrator started");
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                tx,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    /// The resolved podman host.
    pub fn host(&self) -> &PodmanHost {
        &self.inner.shared.host
    }

    /// The API client.
    pub fn podman(&self) -> &Podman {
        &self.inner.shared.podman
    }

    /// The desired-state store.
    pub fn store(&self) -> &Arc<dyn DesiredState> {
        &self.inner.shared.store
    }

    /// PID of the API service this orchestrator started, if it runs one.
    pub fn service_pid(&self) -> Option<u32> {
        self.inner.shared.service.pid()
    }

    /// How many times this orchestrator started the API service.
    pub fn service_starts(&self) -> u64 {
        self.inner.shared.service.starts()
    }

    /// Run a reconcile pass now and wait for it.
    pub async fn reconcile_now(&self) -> PassReport {
        self.pass(None).await
    }

    pub(crate) async fn pass(&self, sink: Option<(String, ProgressSink)>) -> PassReport {
        let (reply, rx) = oneshot::channel();
        if self
            .inner
            .tx
            .send(ActorCommand::Pass { sink, reply })
            .await
            .is_err()
        {
            return PassReport::default();
        }
        rx.await.unwrap_or_default()
    }

    pub(crate) async fn restart_pass(&self, app: &str) -> PassReport {
        let (reply, rx) = oneshot::channel();
        let cmd = ActorCommand::Restart {
            app: app.to_owned(),
            reply,
        };
        if self.inner.tx.send(cmd).await.is_err() {
            return PassReport::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Stop the reconcile loop, the health checks and the events watcher, and kill the API
    /// service this orchestrator started. Containers keep running; a new orchestrator on
    /// the same data dir adopts them. Other clones of this handle stop working.
    pub async fn shutdown(self) {
        let tasks: Vec<_> = self
            .inner
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        self.inner.shared.service.shutdown().await;
        tracing::info!(node = %self.inner.shared.config.node, "orchestrator stopped");
    }
}

//! `install`: verify, load images, prepare data, record the app as wanted, and wait until it
//! is ready. A failure leaves no container, network or state behind (data dir and loaded
//! images stay: they are harmless and make a retry faster).

use std::collections::BTreeMap;

use atoll_registry::manifest::Protocol;

use super::wait::Target;
use crate::error::{InstallError, WaitError};
use crate::orchestrator::Orchestrator;
use crate::progress::{Operation, ProgressSink, Stage};
use crate::release::Release;
use crate::store::{now_secs, AppRecord, Wanted};
use crate::{images, labels, secrets, volumes};

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// Install name (default: the manifest's app id). Names the containers, the network and
    /// the data dir, so two installs of one app need two names.
    pub name: Option<String>,
    /// The verified release.
    pub release: Release,
    /// Host port overrides: the manifest's host port -> the host port to use.
    pub ports: BTreeMap<u16, u16>,
    /// Start it (default) or leave it installed and stopped.
    pub start: bool,
}

impl InstallRequest {
    /// Install `release` under its app id, started, with the manifest's ports.
    pub fn new(release: Release) -> Self {
        Self {
            name: None,
            release,
            ports: BTreeMap::new(),
            start: true,
        }
    }

    /// Use another install name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Publish the manifest's host port `manifest_port` on `host_port` instead.
    pub fn port(mut self, manifest_port: u16, host_port: u16) -> Self {
        self.ports.insert(manifest_port, host_port);
        self
    }
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// Install name.
    pub name: String,
    /// Version installed.
    pub version: semver::Version,
    /// The web UI, if the manifest marks a web port.
    pub web_url: Option<String>,
}

/// Host ports an app publishes (after overrides), with their protocol.
pub(crate) fn host_ports(
    release: &Release,
    overrides: &BTreeMap<u16, u16>,
) -> Vec<(u16, Protocol)> {
    release
        .manifest
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .map(|p| {
            (
                overrides.get(&p.host).copied().unwrap_or(p.host),
                p.protocol,
            )
        })
        .collect()
}

/// Is the port free on 127.0.0.1 right now?
fn port_free(port: u16, protocol: Protocol) -> bool {
    match protocol {
        Protocol::Tcp => std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        Protocol::Udp => std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok(),
    }
}

impl Orchestrator {
    /// Install an app and wait until it is ready (or installed and stopped, when asked).
    pub async fn install(
        &self,
        request: InstallRequest,
        progress: &ProgressSink,
    ) -> Result<InstallReport, InstallError> {
        let name = request
            .name
            .clone()
            .unwrap_or_else(|| request.release.manifest.id.clone());
        let sink = progress.bind(&name, Operation::Install);
        let result = self.install_inner(name, request, &sink).await;
        sink.finish(&result, "installed");
        result
    }

    async fn install_inner(
        &self,
        name: String,
        request: InstallRequest,
        sink: &ProgressSink,
    ) -> Result<InstallReport, InstallError> {
        if !labels::valid_app_name(&name) {
            return Err(InstallError::InvalidName(name));
        }
        let shared = self.shared();
        let _lock = shared.lock_app(&name).await;
        sink.emit(Stage::Verify, 1, "checking the request");
        if shared.store.get(&name)?.is_some() {
            return Err(InstallError::AlreadyInstalled(name));
        }
        let release = request.release;
        release.validate()?;
        let ports = host_ports(&release, &request.ports);
        for other in shared.store.list()? {
            let theirs = host_ports(&other.release, &other.ports);
            if let Some((port, _)) = ports.iter().find(|p| theirs.contains(p)) {
                return Err(InstallError::PortTaken {
                    port: *port,
                    app: other.name,
                });
            }
        }
        for (port, protocol) in &ports {
            if !port_free(*port, *protocol) {
                return Err(InstallError::PortInUse { port: *port });
            }
        }
        shared.service.ensure().await?;
        let images = images::ensure_all(&shared.podman, &release, sink, (5, 50)).await?;
        sink.emit(Stage::Prepare, 52, "preparing secrets and volumes");
        let app_dir = shared.config.app_dir(&name);
        for c in &release.manifest.containers {
            for s in &c.secrets {
                secrets::ensure(&app_dir, s)?;
            }
            let vols: Vec<String> = c.volumes.iter().map(|v| v.name.clone()).collect();
            volumes::prepare(&shared.host, &app_dir, &vols, c.user.as_deref()).await?;
        }
        let web_url = release.manifest.web_port().map(|(_, p)| {
            format!(
                "http://127.0.0.1:{}/",
                request.ports.get(&p.host).copied().unwrap_or(p.host)
            )
        });
        let version = release.version().clone();
        let record = AppRecord {
            name: name.clone(),
            release,
            ports: request.ports,
            wanted: if request.start {
                Wanted::Running
            } else {
                Wanted::Stopped
            },
            stopped_by_user: false,
            images,
            previous: None,
            updated_at: now_secs(),
        };
        shared.store.put(&record)?;
        let report = InstallReport {
            name: name.clone(),
            version,
            web_url,
        };
        let base = self.baseline(&name);
        sink.emit(Stage::Containers, 60, "creating containers");
        self.pass(Some((name.clone(), sink.clone()))).await;
        if !request.start {
            return Ok(report);
        }
        let timeout = shared.config.ready_timeout;
        match self
            .wait(&name, Target::Ready, timeout, &base, sink, (90, 99))
            .await
        {
            Ok(()) => Ok(report),
            Err(reason) => {
                tracing::warn!(app = %name, %reason, "install failed; undoing it");
                sink.emit(
                    Stage::Rollback,
                    99,
                    format!("undoing the install: {reason}"),
                );
                self.undo(&name).await;
                Err(InstallError::NotReady { app: name, reason })
            }
        }
    }

    /// Remove a failed install (keeping its data dir).
    async fn undo(&self, name: &str) {
        let shared = self.shared();
        if let Ok(Some(mut record)) = shared.store.get(name) {
            record.wanted = Wanted::Removed { purge: false };
            record.updated_at = now_secs();
            if shared.store.put(&record).is_ok() {
                self.pass(None).await;
                let base = self.baseline(name);
                let r: Result<(), WaitError> = self
                    .wait(
                        name,
                        Target::Removed,
                        shared.config.ready_timeout,
                        &base,
                        &ProgressSink::none(),
                        (99, 99),
                    )
                    .await;
                if let Err(e) = r {
                    tracing::warn!(app = %name, error = %e, "undoing a failed install is incomplete; the loop keeps removing it");
                }
            }
        }
    }
}

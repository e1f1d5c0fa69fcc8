//! `install`: check, record the app (phase `preparing`: nothing is created for it yet),
//! load its images and prepare its data, record it `prepared` with its image ids (now the
//! loop creates its containers), and wait until it is ready. A failure leaves no container,
//! network or state behind (data dir and loaded images stay: they are harmless and make a
//! retry faster). A crash at any point leaves a record that says what is left: an
//! orchestrator that finds a `preparing` record at start finishes the install
//! ([`Orchestrator::resume`]).

use std::collections::BTreeMap;

use atoll_registry::manifest::Protocol;

use super::failpoint;
use super::wait::Target;
use crate::error::{InstallError, WaitError};
use crate::labels;
use crate::orchestrator::Orchestrator;
use crate::progress::{Operation, ProgressSink, Stage};
use crate::release::Release;
use crate::store::{now_secs, AppRecord, Phase, Wanted};

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
    /// Install names of the installed apps it depends on: its containers also join each
    /// one's network ([`AppRecord::links`]).
    pub links: Vec<String>,
}

impl InstallRequest {
    /// Install `release` under its app id, started, with the manifest's ports.
    pub fn new(release: Release) -> Self {
        Self {
            name: None,
            release,
            ports: BTreeMap::new(),
            start: true,
            links: Vec::new(),
        }
    }

    /// Also attach its containers to the network of the installed app `name` (a
    /// dependency).
    pub fn link(mut self, name: &str) -> Self {
        if !self.links.iter().any(|l| l == name) {
            self.links.push(name.to_owned());
        }
        self
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
        if shared.store.get(&name).await?.is_some() {
            return Err(InstallError::AlreadyInstalled(name));
        }
        let release = request.release;
        release.validate()?;
        for link in &request.links {
            if link == &name || !labels::valid_app_name(link) {
                return Err(InstallError::InvalidName(link.clone()));
            }
            if shared.store.get(link).await?.is_none() {
                return Err(InstallError::MissingLink {
                    app: name,
                    dependency: link.clone(),
                });
            }
        }
        let ports = host_ports(&release, &request.ports);
        for other in shared.store.list().await? {
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
        let record = AppRecord {
            name: name.clone(),
            release,
            ports: request.ports,
            links: request.links,
            wanted: if request.start {
                Wanted::Running
            } else {
                Wanted::Stopped
            },
            stopped_by_user: false,
            images: Default::default(),
            previous: None,
            phase: Phase::Preparing,
            updated_at: now_secs(),
        };
        shared.store.put(&record).await?;
        failpoint::hit("install:after-record").await;
        self.finish_install(record, sink).await
    }

    /// From a `preparing` record on: load the images, prepare the data, record the image
    /// ids (`prepared`), let the loop create the containers and wait until the app is ready.
    /// Undoes the install when it fails (the record goes; data and images stay).
    pub(super) async fn finish_install(
        &self,
        mut record: AppRecord,
        sink: &ProgressSink,
    ) -> Result<InstallReport, InstallError> {
        let shared = self.shared();
        let name = record.name.clone();
        let images = match self
            .prepare::<InstallError>(&name, &record.release, sink, (5, 50))
            .await
        {
            Ok(images) => images,
            Err(e) => {
                // Nothing was created for a preparing record: forgetting it is the undo.
                if let Err(forget) = shared.store.delete(&name).await {
                    tracing::warn!(app = %name, error = %forget, "forgetting a failed install failed; the loop removes it");
                }
                return Err(e);
            }
        };
        failpoint::hit("install:after-images").await;
        let web_url = record
            .release
            .manifest
            .web_port()
            .map(|(_, p)| format!("http://127.0.0.1:{}/", record.host_port(p.host)));
        record.images = images;
        record.phase = Phase::Prepared;
        record.updated_at = now_secs();
        shared.store.put(&record).await?;
        failpoint::hit("install:after-prepared").await;
        let report = InstallReport {
            name: name.clone(),
            version: record.release.version().clone(),
            web_url,
        };
        let base = self.baseline(&name);
        sink.emit(Stage::Containers, 60, "creating containers");
        self.pass(Some((name.clone(), sink.clone()))).await;
        failpoint::hit("install:after-containers").await;
        if record.wanted != Wanted::Running {
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
        if let Ok(Some(mut record)) = shared.store.get(name).await {
            record.wanted = Wanted::Removed { purge: false };
            record.updated_at = now_secs();
            if shared.store.put(&record).await.is_ok() {
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

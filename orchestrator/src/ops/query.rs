//! `ps` and `logs`: what exists right now, from podman (the API, or the CLI while the
//! service restarts) and the orchestrator's own health results.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::QueryError;
use crate::health::HealthStatus;
use crate::labels;
use crate::orchestrator::Orchestrator;
use crate::podman::logs::LogLine;
use crate::podman::types::{ContainerState, ListedContainer};
use crate::store::{AppRecord, Wanted};

/// Overall state of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppState {
    /// Every container running and healthy.
    Ready,
    /// Wanted running, not ready yet.
    Starting,
    /// Wanted running, a container is unhealthy or failing.
    Degraded,
    /// Stopped (by the user or installed stopped).
    Stopped,
    /// An update is being proven (rollback possible).
    Updating,
    /// Being uninstalled.
    Removing,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortStatus {
    /// On 127.0.0.1.
    pub host: u16,
    /// In the container.
    pub container: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// One container of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerStatus {
    /// Manifest name.
    pub name: String,
    /// podman id, if it exists.
    pub id: Option<String>,
    /// podman's state; `None` (shown as `missing`) when no container exists.
    #[serde(serialize_with = "state_or_missing")]
    pub state: Option<ContainerState>,
    /// Health as the orchestrator's checks see it.
    pub health: HealthStatus,
    /// Restarts done by this orchestrator.
    pub restarts: u32,
    /// Exit code of the last run, when not running.
    pub exit_code: Option<i32>,
    /// Published ports.
    pub ports: Vec<PortStatus>,
    /// Last failure seen (exit, failed start, unhealthy, zombie).
    pub last_failure: Option<String>,
}

impl ContainerStatus {
    /// podman says it is `running`.
    pub fn is_running(&self) -> bool {
        self.state == Some(ContainerState::Running)
    }
}

fn state_or_missing<S: serde::Serializer>(
    state: &Option<ContainerState>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_ref().map_or("missing", ContainerState::as_str))
}

/// One installed app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppStatus {
    /// Install name.
    pub name: String,
    /// Version.
    pub version: semver::Version,
    /// `<did>/<app>` when installed from a signed entry.
    pub source: Option<String>,
    /// Manifest hash (hex).
    pub manifest_hash: String,
    /// `running`, `stopped` or `removed`.
    pub wanted: &'static str,
    /// Stopped by the operator.
    pub stopped_by_user: bool,
    /// Overall state.
    pub state: AppState,
    /// Containers in manifest order.
    pub containers: Vec<ContainerStatus>,
    /// Last reconcile error, if the last pass failed for this app.
    pub last_error: Option<String>,
}

impl Orchestrator {
    /// Our containers, from the API, or from the CLI when the API cannot be reached.
    pub(super) async fn listed(
        &self,
        extra: &[(&str, &str)],
    ) -> Result<Vec<ListedContainer>, QueryError> {
        let shared = self.shared();
        let node = shared.config.node.as_str();
        let mut labels = vec![(labels::NODE, node)];
        labels.extend_from_slice(extra);
        match shared.podman.list_containers(&labels).await {
            Ok(l) => Ok(l),
            Err(e) if e.is_transport() => {
                tracing::debug!(error = %e, "API unreachable; listing with the CLI");
                Ok(crate::podman::cli::list_containers(&shared.host, &labels).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every installed app with its containers.
    pub async fn ps(&self) -> Result<Vec<AppStatus>, QueryError> {
        let records = self.shared().store.list().await?;
        let listed = self.listed(&[]).await?;
        Ok(records.iter().map(|r| self.status_of(r, &listed)).collect())
    }

    /// One app.
    pub async fn status(&self, name: &str) -> Result<AppStatus, QueryError> {
        let record = self
            .shared()
            .store
            .get(name)
            .await?
            .ok_or_else(|| QueryError::NotInstalled(name.to_owned()))?;
        let listed = self.listed(&[(labels::APP, name)]).await?;
        Ok(self.status_of(&record, &listed))
    }

    fn status_of(&self, record: &AppRecord, listed: &[ListedContainer]) -> AppStatus {
        let shared = self.shared();
        let rt = shared.runtime();
        let app = record.name.as_str();
        let by_name: HashMap<&str, &ListedContainer> = listed
            .iter()
            .filter(|l| l.label(labels::APP) == Some(app))
            .map(|l| (l.name(), l))
            .collect();
        let mut containers = Vec::new();
        let mut all_ready = true;
        let mut degraded = false;
        for c in &record.release.manifest.containers {
            let l = by_name.get(labels::container_name(app, &c.name).as_str());
            let e = rt.get(app, &c.name);
            let state = l.map(|l| l.state.clone());
            let running = state == Some(ContainerState::Running);
            let health = match (e, l) {
                (_, None) => {
                    if c.health.is_some() {
                        HealthStatus::Starting
                    } else {
                        HealthStatus::None
                    }
                }
                (Some(e), Some(l)) if e.id.as_deref() == Some(l.id.as_str()) => e.health_status(),
                _ if c.health.is_none() => HealthStatus::None,
                _ => HealthStatus::Starting,
            };
            let ready = running && matches!(health, HealthStatus::Healthy | HealthStatus::None);
            all_ready &= ready;
            degraded |= health == HealthStatus::Unhealthy
                || (!running && e.is_some_and(|e| e.failures > 0));
            containers.push(ContainerStatus {
                name: c.name.clone(),
                id: l.map(|l| l.id.clone()),
                exit_code: l
                    .filter(|l| l.state != ContainerState::Running)
                    .map(|l| l.exit_code),
                state,
                health,
                restarts: e.map_or(0, |e| e.starts.saturating_sub(1)),
                ports: c
                    .ports
                    .iter()
                    .map(|p| PortStatus {
                        host: record.host_port(p.host),
                        container: p.container,
                        protocol: format!("{:?}", p.protocol).to_lowercase(),
                    })
                    .collect(),
                last_failure: e.and_then(|e| e.last_failure.as_ref().map(ToString::to_string)),
            });
        }
        let state = match record.wanted {
            Wanted::Removed { .. } => AppState::Removing,
            Wanted::Stopped => AppState::Stopped,
            Wanted::Running if record.previous.is_some() => AppState::Updating,
            Wanted::Running if all_ready => AppState::Ready,
            Wanted::Running if degraded => AppState::Degraded,
            Wanted::Running => AppState::Starting,
        };
        AppStatus {
            name: record.name.clone(),
            version: record.release.version().clone(),
            source: record.release.source.clone(),
            manifest_hash: record.release.manifest_hash.to_hex(),
            wanted: record.wanted.as_str(),
            stopped_by_user: record.stopped_by_user,
            state,
            containers,
            last_error: rt.app_errors.get(app).map(ToString::to_string),
        }
    }

    /// The last `tail` log lines of one container of an app (all lines if `None`).
    pub async fn logs(
        &self,
        name: &str,
        container: &str,
        tail: Option<usize>,
    ) -> Result<Vec<LogLine>, QueryError> {
        let id = self.log_source(name, container).await?;
        Ok(self.shared().podman.container_logs(&id, tail).await?)
    }

    /// Follow one container's log: its last `tail` lines, then every new line until the
    /// container stops or the receiver is dropped.
    pub async fn follow_logs(
        &self,
        name: &str,
        container: &str,
        tail: usize,
    ) -> Result<tokio::sync::mpsc::Receiver<LogLine>, QueryError> {
        let id = self.log_source(name, container).await?;
        Ok(self
            .shared()
            .podman
            .follow_container_logs(&id, tail)
            .await?)
    }

    /// The podman id of an app's container whose log is asked for: the app must be
    /// installed, its manifest must name the container, and the container must exist.
    async fn log_source(&self, name: &str, container: &str) -> Result<String, QueryError> {
        let shared = self.shared();
        let Some(record) = shared.store.get(name).await? else {
            return Err(QueryError::NotInstalled(name.to_owned()));
        };
        let known: Vec<String> = record
            .release
            .manifest
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if !known.iter().any(|k| k == container) {
            return Err(QueryError::UnknownContainer {
                app: name.to_owned(),
                container: container.to_owned(),
                known,
            });
        }
        let listed = self
            .listed(&[(labels::APP, name), (labels::CONTAINER, container)])
            .await?;
        let Some(c) = listed.first() else {
            return Err(QueryError::NoContainer {
                app: name.to_owned(),
                container: container.to_owned(),
            });
        };
        if let Err(e) = shared.service.ensure().await {
            return Err(QueryError::Service(e));
        }
        Ok(c.id.clone())
    }
}

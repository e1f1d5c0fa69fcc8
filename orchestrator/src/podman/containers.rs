//! Container endpoints.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde::Serialize;

use super::client::{empty, encode, label_filter, DEFAULT_TIMEOUT};
use super::types::{ContainerInspect, CreateAnswer, HealthRun, ListedContainer};
use super::{seg, Podman};
use crate::error::PodmanError;

/// Extra time the client waits beyond a stop grace before giving up on the API.
pub const STOP_MARGIN: Duration = Duration::from_secs(30);

impl Podman {
    /// `GET /_ping`: is the service answering?
    pub async fn ping(&self, timeout: Duration) -> Result<(), PodmanError> {
        self.client
            .call(Method::GET, "/_ping", empty(), timeout)
            .await
            .map(|_| ())
    }

    /// Every container (running or not) carrying all the given labels.
    pub async fn list_containers(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<ListedContainer>, PodmanError> {
        let path = format!("/containers/json?all=true&filters={}", label_filter(labels));
        self.client.get(&path).await
    }

    /// Inspect a container; `None` if it does not exist.
    pub async fn inspect_container(
        &self,
        id: &str,
    ) -> Result<Option<ContainerInspect>, PodmanError> {
        match self
            .client
            .get(&format!("/containers/{}/json", seg(id)))
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Create a container from a libpod SpecGenerator.
    pub async fn create_container<S: Serialize>(
        &self,
        spec: &S,
    ) -> Result<CreateAnswer, PodmanError> {
        self.client.post("/containers/create", spec).await
    }

    /// Start a container (already running is fine).
    pub async fn start_container(&self, id: &str) -> Result<(), PodmanError> {
        let path = format!("/containers/{}/start", seg(id));
        self.client
            .call(Method::POST, &path, empty(), DEFAULT_TIMEOUT)
            .await
            .map(|_| ())
    }

    /// Stop a container: SIGTERM (or its stop signal), SIGKILL after `grace`. The client
    /// waits `grace` plus 30 s. Already stopped is fine.
    pub async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), PodmanError> {
        let secs = grace.as_millis().div_ceil(1000);
        let path = format!("/containers/{}/stop?timeout={secs}", seg(id));
        self.client
            .call(Method::POST, &path, empty(), grace + STOP_MARGIN)
            .await
            .map(|_| ())
    }

    /// Remove a container (and its anonymous volumes), killing it at once if it still runs.
    /// A missing container is fine.
    pub async fn remove_container(&self, id: &str) -> Result<(), PodmanError> {
        let path = format!("/containers/{}?force=true&timeout=0&v=true", seg(id));
        match self
            .client
            .call(Method::DELETE, &path, empty(), DEFAULT_TIMEOUT)
            .await
        {
            Ok((_, body)) => {
                // 200 carries `[{"Id": …, "Err": …}]`; an `Err` there is a failure too.
                #[derive(serde::Deserialize)]
                struct Report {
                    #[serde(rename = "Err")]
                    err: Option<String>,
                }
                let reports: Vec<Report> = serde_json::from_slice(&body).unwrap_or_default();
                match reports.into_iter().find_map(|r| r.err) {
                    Some(message) if !message.is_empty() => Err(PodmanError::Api {
                        method: hyper::Method::DELETE,
                        path,
                        status: 500,
                        message,
                    }),
                    _ => Ok(()),
                }
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Run the container's configured health command once (`podman healthcheck run`).
    pub async fn run_healthcheck(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<HealthRun, PodmanError> {
        let path = format!("/containers/{}/healthcheck", seg(id));
        let (_, body) = self
            .client
            .call(Method::GET, &path, empty(), timeout)
            .await?;
        super::client::decode(&path, &body)
    }

    /// The container's log (stdout and stderr, demultiplexed), the last `tail` lines.
    pub async fn container_logs(
        &self,
        id: &str,
        tail: Option<usize>,
    ) -> Result<Vec<super::logs::LogLine>, PodmanError> {
        let tail = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
        let path = format!(
            "/containers/{}/logs?stdout=true&stderr=true&follow=false&tail={}",
            seg(id),
            encode(&tail)
        );
        let (status, body) = self
            .client
            .call(Method::GET, &path, empty(), DEFAULT_TIMEOUT)
            .await?;
        if status == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        Ok(super::logs::demux(&body))
    }

    /// Follow the container's log: its last `tail` lines, then each new line as it is
    /// written, until the container stops (podman ends the body) or the receiver is
    /// dropped (the request to podman is dropped with it).
    pub async fn follow_container_logs(
        &self,
        id: &str,
        tail: usize,
    ) -> Result<tokio::sync::mpsc::Receiver<super::logs::LogLine>, PodmanError> {
        use http_body_util::BodyExt;
        let path = format!(
            "/containers/{}/logs?stdout=true&stderr=true&follow=true&tail={tail}",
            seg(id)
        );
        let response = self
            .client
            .open(
                Method::GET,
                &path,
                empty(),
                "application/json",
                DEFAULT_TIMEOUT,
            )
            .await?;
        let status = response.status();
        if status.as_u16() >= 400 {
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(super::client::api_error(&Method::GET, &path, status, &body));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let mut body = response.into_body();
        tokio::spawn(async move {
            let mut demux = super::logs::Demuxer::default();
            loop {
                let frame = tokio::select! {
                    () = tx.closed() => return,
                    f = body.frame() => f,
                };
                let lines = match frame {
                    Some(Ok(f)) => match f.into_data() {
                        Ok(data) => demux.push(&data),
                        Err(_) => continue,
                    },
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "followed log ended");
                        break;
                    }
                    None => break,
                };
                for l in lines {
                    if tx.send(l).await.is_err() {
                        return;
                    }
                }
            }
            for l in demux.finish() {
                if tx.send(l).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// Send a signal to a running container.
    pub async fn kill_container(&self, id: &str, signal: &str) -> Result<(), PodmanError> {
        let path = format!("/containers/{}/kill?signal={}", seg(id), encode(signal));
        self.client
            .call(Method::POST, &path, empty(), DEFAULT_TIMEOUT)
            .await
            .map(|_| ())
    }
}

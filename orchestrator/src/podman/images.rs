//! Image endpoints: exists, inspect, load (streamed upload with progress), pull.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Frame;
use hyper::Method;
use tokio::io::AsyncReadExt;

use super::client::{api_error, decode, empty, encode, DEFAULT_TIMEOUT};
use super::types::ImageInspect;
use super::{seg, Podman};
use crate::error::PodmanError;

/// Chunk size of archive uploads.
const CHUNK: usize = 256 * 1024;
/// A load or pull may take long; this bounds only a stall of the whole exchange.
const LOAD_TIMEOUT: Duration = Duration::from_secs(3600);

impl Podman {
    /// Does podman have this image (id or name)?
    pub async fn image_exists(&self, name: &str) -> Result<bool, PodmanError> {
        let path = format!("/images/{}/exists", seg(name));
        match self
            .client
            .call(Method::GET, &path, empty(), DEFAULT_TIMEOUT)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove an image by id (not forced: an image a container still uses stays, and that
    /// is an error). A missing image is fine.
    pub async fn remove_image(&self, id: &str) -> Result<(), PodmanError> {
        let path = format!("/images/{}", seg(id));
        match self
            .client
            .call(Method::DELETE, &path, empty(), DEFAULT_TIMEOUT)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Inspect an image; `None` if podman does not have it.
    pub async fn inspect_image(&self, name: &str) -> Result<Option<ImageInspect>, PodmanError> {
        match self
            .client
            .get(&format!("/images/{}/json", seg(name)))
            .await
        {
            Ok(i) => Ok(Some(i)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /images/load` with the archive streamed from `archive`; `progress(sent, total)`
    /// is called as bytes go out. Returns the names podman gave the loaded image(s).
    pub async fn load_image(
        &self,
        archive: &Path,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Vec<String>, PodmanError> {
        let io = |source| PodmanError::Io {
            path: archive.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::open(archive).await.map_err(io)?;
        let total = file.metadata().await.map_err(io)?.len();
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(2);
        let upload = async {
            let mut sent = 0u64;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = file.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                if tx
                    .send(Frame::data(Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    // The request ended early; its own error says why.
                    break;
                }
                sent += n as u64;
                progress(sent, total);
            }
            drop(tx);
            Ok::<_, PodmanError>(())
        };
        let path = "/images/load";
        let request = async {
            let response = self
                .client
                .open(
                    Method::POST,
                    path,
                    body.boxed(),
                    "application/x-tar",
                    LOAD_TIMEOUT,
                )
                .await?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|source| PodmanError::Http {
                    method: hyper::Method::POST,
                    path: path.into(),
                    source,
                })?
                .to_bytes();
            if status.as_u16() >= 400 {
                return Err(api_error(&hyper::Method::POST, path, status, &bytes));
            }
            Ok(bytes)
        };
        let (uploaded, answer) = tokio::join!(upload, request);
        let bytes = answer?;
        uploaded?;
        #[derive(serde::Deserialize)]
        struct Loaded {
            #[serde(rename = "Names", default)]
            names: Vec<String>,
        }
        let loaded: Loaded = decode(path, &bytes)?;
        Ok(loaded.names)
    }

    /// `POST /images/pull?reference=…` (a reference pinned by digest); `line` gets each
    /// progress line. Returns the pulled image id.
    pub async fn pull_image(
        &self,
        reference: &str,
        mut line: impl FnMut(&str) + Send,
    ) -> Result<String, PodmanError> {
        let path = format!(
            "/images/pull?reference={}&policy=missing",
            encode(reference)
        );
        let response = self
            .client
            .open(
                Method::POST,
                &path,
                Empty::<Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed(),
                "application/json",
                LOAD_TIMEOUT,
            )
            .await?;
        let status = response.status();
        let mut body = response.into_body();
        let mut buf = Vec::new();
        let mut id = None;
        let mut error = None;
        #[derive(serde::Deserialize)]
        struct Report {
            #[serde(default)]
            stream: Option<String>,
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            id: Option<String>,
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|source| PodmanError::Http {
                method: hyper::Method::POST,
                path: path.clone(),
                source,
            })?;
            if let Some(data) = frame.data_ref() {
                buf.extend_from_slice(data);
            }
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = buf.drain(..=pos).collect();
                if let Ok(r) = serde_json::from_slice::<Report>(&raw) {
                    if let Some(s) = r.stream {
                        line(s.trim_end());
                    }
                    if r.error.is_some() {
                        error = r.error;
                    }
                    if r.id.is_some() {
                        id = r.id;
                    }
                }
            }
        }
        if status.as_u16() >= 400 || error.is_some() {
            return Err(PodmanError::Api {
                method: hyper::Method::POST,
                path,
                status: status.as_u16(),
                message: error.unwrap_or_else(|| String::from_utf8_lossy(&buf).into_owned()),
            });
        }
        id.ok_or(PodmanError::NoImageId { path })
    }
}

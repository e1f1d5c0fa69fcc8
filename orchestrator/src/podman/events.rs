//! The events stream (`GET /events?stream=true`), NDJSON, filtered by label.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Method;

use super::client::{empty, label_filter};
use super::types::Event;
use super::Podman;
use crate::error::PodmanError;

/// An open events stream.
#[derive(Debug)]
pub struct EventStream {
    body: Incoming,
    buf: BytesMut,
}

impl Podman {
    /// Subscribe to events of objects carrying all the given labels.
    pub async fn events(&self, labels: &[(&str, &str)]) -> Result<EventStream, PodmanError> {
        let path = format!("/events?stream=true&filters={}", label_filter(labels));
        // podman may hold the response head back until the first event: no deadline here,
        // the caller runs this in its own task.
        let response = self
            .client
            .open(
                Method::GET,
                &path,
                empty(),
                "application/json",
                Duration::from_secs(365 * 24 * 3600),
            )
            .await?;
        if response.status().as_u16() >= 400 {
            return Err(PodmanError::Api {
                method: hyper::Method::GET,
                path,
                status: response.status().as_u16(),
                message: "events stream refused".into(),
            });
        }
        Ok(EventStream {
            body: response.into_body(),
            buf: BytesMut::new(),
        })
    }
}

impl EventStream {
    /// The next event; `None` when the stream ended (the service went away). Lines that are
    /// not events are skipped.
    pub async fn next(&mut self) -> Option<Result<Event, PodmanError>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line = self.buf.split_to(pos + 1);
                let line = &line[..pos];
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Ok(event) = serde_json::from_slice::<Event>(line) {
                    return Some(Ok(event));
                }
                continue;
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.buf.extend_from_slice(chunk);
                            let n = chunk.len();
                            data.advance(n);
                        }
                    }
                }
                Err(source) => {
                    return Some(Err(PodmanError::Http {
                        method: hyper::Method::GET,
                        path: "/events".into(),
                        source,
                    }))
                }
            }
        }
    }
}

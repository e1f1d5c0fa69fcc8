//! An installed app's logs: the last lines of one container or of each, as JSON, or
//! followed live as server-sent events (`?follow=true`), one event per line and a last
//! `end` event when every followed container's log has ended.

use std::convert::Infallible;

use atoll_orchestrator::podman::logs::LogStream;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::apps::parse_ref;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query};
use super::limits::MAX_LOG_TAIL;
use super::ApiState;

/// One log line of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// The container's manifest name.
    pub container: String,
    /// `stdout` or `stderr`.
    pub stream: LogStream,
    /// The line, without its newline.
    pub text: String,
}

/// Longest container name in a query (a manifest name is a DNS label).
const MAX_CONTAINER_NAME: usize = 63;

/// Query of `GET /installed/{did}/{app}/logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    tail: Option<usize>,
    container: Option<String>,
    follow: Option<bool>,
}

/// `GET /installed/{did}/{app}/logs[?tail=N][&container=NAME][&follow=true]`
pub async fn logs(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let app = parse_ref(&did, &app)?;
    let tail = q.tail.unwrap_or(100);
    if !(1..=MAX_LOG_TAIL).contains(&tail) {
        return Err(ApiError::bad_request(format!(
            "tail: must be 1 to {MAX_LOG_TAIL}"
        )));
    }
    let container = q.container.filter(|c| !c.is_empty());
    if container
        .as_ref()
        .is_some_and(|c| c.len() > MAX_CONTAINER_NAME)
    {
        return Err(ApiError::bad_request(format!(
            "container: at most {MAX_CONTAINER_NAME} bytes (a container's manifest name)"
        )));
    }
    if q.follow == Some(true) {
        let rx = state.ops.follow_logs(app, container, tail).await?;
        let lines = ReceiverStream::new(rx)
            .map(|l| Event::default().data(serde_json::to_string(&l).unwrap_or_default()));
        let end = tokio_stream::once(Event::default().event("end").data(
            json!({"end": true, "reason": "the log ended (the container stopped)"}).to_string(),
        ));
        let events = lines.chain(end).map(Ok::<_, Infallible>);
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let entries = state.ops.logs(app.clone(), container, tail).await?;
    let lines: Vec<String> = entries
        .iter()
        .map(|e| format!("{}: {}", e.container, e.text))
        .collect();
    Ok(Json(json!({ "app": app.to_string(), "lines": lines, "entries": entries })).into_response())
}

//! Backups of installed apps: list, show (with what a restore would replace), create and
//! restore (jobs), delete, export (one tar file, admin token: it holds the app's secrets)
//! and import (the file streamed in, verified whole before anything is stored).

use std::io::Write;
use std::sync::Arc;

use atoll_catalog::guard::{self, Overrides};
use atoll_registry::AppRef;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::StreamExt;

use super::error::{clip, ApiError, ApiResult};
use super::extract::{Json as JsonBody, Path};
use super::upload::UPLOAD_IDLE_TIMEOUT;
use super::ApiState;
use crate::node::backups::{api_error, describe, export_blocking, import_blocking};
use crate::node::runtime::NodeApps;

/// The import route, streamed (exempt from the small-body bound).
pub const IMPORT_ROUTE: &str = "/api/v1/backups/import";

fn backups(state: &ApiState) -> ApiResult<Arc<NodeApps>> {
    state.backups.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this node runs no apps (no container runtime), so it has no backups",
        )
    })
}

fn check_id(id: &str) -> ApiResult<()> {
    if id.len() < 8 || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "backup id {:?}: 8 to 64 hex digits",
            clip(id, 80)
        )));
    }
    Ok(())
}

/// `GET /backups`: every backup, newest first; `installed: false` marks what an
/// uninstalled app left.
pub async fn list(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let b = backups(&state)?;
    let items = b
        .orchestrator()
        .list_backups()
        .await
        .map_err(|e| api_error(&e))?;
    Ok(Json(json!({ "items": items })))
}

/// `GET /backups/{id}`: one backup and what restoring it would replace now.
pub async fn show(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    check_id(&id)?;
    let b = backups(&state)?;
    let orch = b.orchestrator();
    let (record, replaces) = orch.restore_preview(&id).await.map_err(|e| api_error(&e))?;
    let installed = orch.status(&record.app).await.is_ok();
    Ok(Json(describe(&record, Some(&replaces), installed)))
}

/// Body of `POST /backups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// `<did>/<app>` of an installed app.
    app: String,
}

fn accepted(id: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({ "job": id, "events": format!("/api/v1/jobs/{id}/events") })),
    )
        .into_response()
}

/// `POST /backups`: back up an installed app now (a job).
pub async fn create(
    State(state): State<ApiState>,
    body: Result<JsonBody<CreateRequest>, ApiError>,
) -> ApiResult<Response> {
    let JsonBody(req) = body?;
    let app: AppRef = req
        .app
        .parse()
        .map_err(|e| ApiError::bad_request(format!("app: {e}")))?;
    let b = backups(&state)?;
    let name = crate::node::runtime::install_name(&app);
    if b.orchestrator().status(&name).await.is_err() {
        return Err(ApiError::conflict(format!("{app} is not installed")));
    }
    let job = state.jobs.create();
    let id = job.id().to_owned();
    tokio::spawn(async move { b.backup_job(app, job).await });
    Ok(accepted(&id))
}

/// `POST /backups/{id}/restore`: put a backup's data back (a job). An installed app must
/// be stopped (409 otherwise); an app this node does not have is installed from the
/// catalog after its data is back, through the install guard.
pub async fn restore(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Response> {
    check_id(&id)?;
    let b = backups(&state)?;
    let orch = b.orchestrator();
    let (record, _) = orch.restore_preview(&id).await.map_err(|e| api_error(&e))?;
    let mut checked = None;
    match orch.status(&record.app).await {
        Ok(s) => {
            if s.wanted == "running" || s.containers.iter().any(|c| c.is_running()) {
                return Err(api_error(&atoll_orchestrator::BackupError::Running {
                    app: record.app.clone(),
                }));
            }
        }
        Err(_) => {
            // Disaster recovery installs: the same guard as every install.
            let app: AppRef = record
                .source
                .as_deref()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    ApiError::conflict(format!(
                        "backup {id} is of {:?}, installed from a local app dir: install it, stop it, then restore",
                        record.app
                    ))
                })?;
            let threshold = state.install_threshold;
            let check = app.clone();
            let short = record.id().to_hex()[..12].to_owned();
            let (facts, sequence) = state
                .read_catalog(move |c| {
                    let view = c.app(&check).map_err(ApiError::internal)?.ok_or_else(|| {
                        ApiError::not_found(format!(
                            "backup {short} is of {check}, which is not in this node's catalog (yet): \
                             trust its publisher and let the node sync, then restore"
                        ))
                    })?;
                    let facts = c
                        .guard_facts(&check, threshold)
                        .map_err(ApiError::internal)?
                        .ok_or_else(|| ApiError::not_found(format!("no app {check} in this node's catalog")))?;
                    Ok((facts, view.summary.sequence))
                })
                .await?;
            let decision = guard::check(&facts, Overrides::NONE);
            if !decision.allowed() {
                return Err(super::guard::refusal("install", &app, &decision, &facts));
            }
            checked = Some(sequence);
        }
    }
    let job = state.jobs.create();
    let job_id = job.id().to_owned();
    tokio::spawn(async move { b.restore_job(id, checked, job).await });
    Ok(accepted(&job_id))
}

/// `DELETE /backups/{id}`.
pub async fn delete(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check_id(&id)?;
    let b = backups(&state)?;
    let gone = b
        .orchestrator()
        .delete_backup(&id)
        .await
        .map_err(|e| api_error(&e))?;
    Ok(Json(json!({ "deleted": gone })))
}

/// A `Write` that hands chunks to the response body (blocking; in a blocking task).
struct ToBody(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ToBody {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `POST /backups/{id}/export`: the backup as one tar file (it holds the app's secrets,
/// hence POST with the admin token).
pub async fn export(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Response> {
    check_id(&id)?;
    let b = backups(&state)?;
    let orch = b.orchestrator().clone();
    let record = {
        let (o, i) = (orch.clone(), id.clone());
        tokio::task::spawn_blocking(move || {
            o.backups()
                .get(&i)
                .and_then(|r| o.backups().complete(&r).map(|()| r))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| api_error(&e))?
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let full = record.id().to_hex();
    let name = format!("atoll-backup-{}-{}.tar", record.app, &full[..12]);
    tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, ToBody(tx.clone()));
        if let Err(e) = export_blocking(&orch, &full, &mut out).and_then(|_| {
            out.flush()
                .map_err(|e| atoll_orchestrator::BackupError::Io {
                    op: "send the export",
                    path: "-".into(),
                    source: e,
                })
        }) {
            tracing::warn!(backup = %full, error = %e, "export broke off");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// `POST /backups/import`: the body is an export file. It is written to a temporary file
/// (at most `[api] max_upload_bytes`), then verified whole; only then stored.
pub async fn import(State(state): State<ApiState>, req: Request) -> ApiResult<Json<Value>> {
    let b = backups(&state)?;
    let max = state.upload.max_bytes;
    std::fs::create_dir_all(&state.upload.tmp_dir).map_err(ApiError::internal)?;
    let file =
        tempfile::NamedTempFile::new_in(&state.upload.tmp_dir).map_err(ApiError::internal)?;
    let mut out = std::fs::File::create(file.path()).map_err(ApiError::internal)?;
    let mut stream = req.into_body().into_data_stream();
    let mut total = 0u64;
    loop {
        let chunk = match tokio::time::timeout(UPLOAD_IDLE_TIMEOUT, stream.next()).await {
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "body: no byte for {UPLOAD_IDLE_TIMEOUT:?}"
                )))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(ApiError::bad_request(format!("body: {e}"))),
            Ok(Some(Ok(c))) => c,
        };
        total += chunk.len() as u64;
        if total > max {
            return Err(ApiError::too_large(format!(
                "body: more than {max} bytes, the most this node accepts ([api] max_upload_bytes)"
            )));
        }
        out.write_all(&chunk).map_err(ApiError::internal)?;
    }
    drop(out);
    let orch = b.orchestrator().clone();
    let record = tokio::task::spawn_blocking(move || {
        let r = import_blocking(&orch, file.path());
        drop(file);
        r
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| api_error(&e))?;
    let installed = b.orchestrator().status(&record.app).await.is_ok();
    Ok(Json(describe(&record, None, installed)))
}

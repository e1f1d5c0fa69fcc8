//! Publishing to the running node: `GET /node` (what a publisher needs to sign an origin
//! for this node), `POST /publish` (a signed release, streamed: [`super::upload`]) and
//! `POST /publish/event` (one signed Nostr event: a yank, a profile, an endorsement, a key
//! rotation).
//! The publisher signs on its own machine; the node verifies everything before it
//! stores anything ([`atoll_discovery::publish::release`]), then serves the blobs as the
//! origin and announces on all its relays.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::Json;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::upload;
use super::ApiState;

/// Limits and place of release uploads.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Directory under the data dir for the temporary bundle of an upload.
    pub tmp_dir: std::path::PathBuf,
    /// Largest upload (`[api] max_upload_bytes`).
    pub max_bytes: u64,
}

/// `GET /node`
pub async fn node(State(state): State<ApiState>) -> Json<Value> {
    Json(state.net.node_info().await)
}

/// `POST /publish`: the body is a tar stream ([`upload`]); it is not read whole first
/// (the body limit of [`super::limits`] does not apply to this route; this one does).
pub async fn release(State(state): State<ApiState>, req: Request) -> ApiResult<Json<Value>> {
    let max = state.upload.max_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Clearly too large: answered at once. Slightly over: read and counted, so the client
    // that sent it whole still gets the answer.
    if let Some(n) = declared.filter(|n| *n > max.saturating_add(upload::DRAIN_SLACK)) {
        return Err(ApiError::too_large(format!(
            "body: {n} bytes declared, more than {max}, the most this node accepts ([api] max_upload_bytes)"
        )));
    }
    let body: Body = req.into_body();
    let unpacked = upload::receive(body, &state.upload.tmp_dir, max).await?;
    let out = state.net.publish_release(unpacked).await;
    out.map(Json)
}

/// `POST /publish/event`: the body is one signed Nostr event (JSON).
pub async fn event(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("body: not UTF-8 (expected a Nostr event as JSON)"))?;
    state.net.publish_event(text.to_owned()).await.map(Json)
}

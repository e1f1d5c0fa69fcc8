//! `GET /installed/{did}/{app}/usage`: what an installed app uses next to its limits, per
//! container: CPU (share of one CPU), resident memory, and the disk its volumes take.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::apps::parse_ref;
use super::error::ApiResult;
use super::extract::Path;
use super::ApiState;

/// `GET /installed/{did}/{app}/usage`
pub async fn usage(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let app = parse_ref(&did, &app)?;
    let u = state.ops.usage(app.clone()).await?;
    Ok(Json(json!({
        "app": app.to_string(),
        "containers": u.containers,
        "disk_bytes": u.disk_bytes,
        "measured": u.measured,
    })))
}

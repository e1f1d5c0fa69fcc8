//! Data kept on disk by apps that are not installed (uninstalled without purge): listed so
//! it is never invisible, and deleted on request. A reinstall of the same app reuses it
//! (volumes and generated secrets) unless the install asks to start `fresh`.

use atoll_orchestrator::{AppData, DeleteDataError};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::apps::parse_ref;
use super::error::{ApiError, ApiResult};
use super::extract::Path;
use super::ApiState;

/// An app's data as the API shows it.
pub fn data_json(d: &AppData) -> Value {
    json!({
        "volumes": d.volumes,
        "bytes": d.bytes,
        "secrets": d.secrets,
    })
}

/// `GET /data`: the data of apps not installed, with the app's name when the catalog
/// knows it.
pub async fn list(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let kept = state.ops.kept_data().await.map_err(ApiError::internal)?;
    let mut items = Vec::new();
    for d in kept {
        let app: Option<atoll_registry::AppRef> = d.source.as_deref().and_then(|s| s.parse().ok());
        let name = match &app {
            Some(r) => {
                let r = r.clone();
                state
                    .read_catalog(move |c| Ok(c.app(&r).ok().flatten().map(|v| v.summary.name)))
                    .await?
            }
            None => None,
        };
        let mut v = data_json(&d);
        v["install_name"] = json!(d.name);
        v["ref"] = json!(app.as_ref().map(ToString::to_string));
        v["name"] = json!(name
            .or_else(|| app.as_ref().map(|a| a.app.to_string()))
            .unwrap_or(d.name.clone()));
        items.push(v);
    }
    Ok(Json(json!({ "items": items })))
}

/// `DELETE /data/{did}/{app}`: delete the kept data of an app that is not installed.
pub async fn delete(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let app = parse_ref(&did, &app)?;
    let gone = state
        .ops
        .delete_data(app.clone())
        .await
        .map_err(|e| match e {
            DeleteDataError::Installed(_) => ApiError::conflict(format!(
                "{app} is installed: uninstall it with purge to delete its data"
            )),
            DeleteDataError::NotFound(_) => {
                ApiError::not_found(format!("no data of {app} is kept on this node"))
            }
            DeleteDataError::InvalidName(n) => ApiError::bad_request(format!("app: {n:?}")),
            other => ApiError::internal(other),
        })?;
    let mut v = data_json(&gone);
    v["ref"] = json!(app.to_string());
    v["deleted"] = json!(true);
    Ok(Json(v))
}

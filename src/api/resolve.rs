//! `GET /resolve/{app}`: which refs a bare app id may name on this node (every publisher's
//! app with that id the catalog holds, installed first), so a client can accept `wiki`
//! where it is unique and list the full refs where it is not.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::{clip, ApiError, ApiResult};
use super::extract::Path;
use super::ApiState;

/// `GET /resolve/{app}`: `{app, matches: [{ref, publisher_name, installed}]}`.
pub async fn app_id(
    State(state): State<ApiState>,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    let id: atoll_registry::AppId = app.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "app id {:?}: not an app id (lowercase letters, digits and '-', as in <did>/<app>)",
            clip(&app, 80)
        ))
    })?;
    let matches = state
        .read_catalog(move |c| c.apps_with_id(id.as_str()).map_err(ApiError::internal))
        .await?;
    Ok(Json(json!({ "app": app, "matches": matches })))
}

//! `POST /installed/{did}/{app}/credentials`: an installed app's generated credentials
//! (its secrets marked `show: true`), on request, with the admin token (every POST needs
//! it). Other secrets are never returned. The answer is not cached and the values are
//! never logged: the log says only who read which names.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::apps::parse_ref;
use super::error::ApiResult;
use super::extract::Path;
use super::{AdminPeer, ApiState};

/// `POST /installed/{did}/{app}/credentials`
pub async fn show(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
    peer: Option<axum::Extension<AdminPeer>>,
) -> ApiResult<impl IntoResponse> {
    let app = parse_ref(&did, &app)?;
    let credentials = state.ops.credentials(app.clone()).await?;
    let names: Vec<&str> = credentials.iter().map(|c| c.name.as_str()).collect();
    let who = match &peer {
        Some(axum::Extension(AdminPeer(id))) => format!("remote admin {id}"),
        None => "api (admin token)".to_owned(),
    };
    tracing::info!(%app, ?names, %who, "credentials shown to the operator");
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "app": app.to_string(), "credentials": credentials })),
    ))
}

//! The node's Nostr relays: `GET /relays` (each with its source and state), `POST
//! /relays {"url": ..}` (use one, persisted) and `DELETE /relays {"url": ..}` (stop
//! using one, persisted). Mutations need the admin token (like every non-GET request).
//! A URL that is not a relay URL answers 400 naming the problem; removing the embedded
//! relay 409; removing a relay the node does not know 404.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::Json as JsonBody;
use super::ApiState;
use crate::node::relays::RelayOpError;

/// Body of `POST` / `DELETE /relays`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayBody {
    url: String,
}

fn api_error(e: RelayOpError) -> ApiError {
    match e {
        RelayOpError::Invalid(m) => ApiError::bad_request(m),
        RelayOpError::Embedded(m) => ApiError::conflict(m),
        e @ RelayOpError::NotFound(_) => ApiError::not_found(e.to_string()),
        RelayOpError::Internal(e) => ApiError::internal(format!("{e:#}")),
    }
}

/// `GET /relays`
pub async fn list(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let relays = state.relays.list().await.map_err(api_error)?;
    Ok(Json(json!({ "relays": relays })))
}

/// `POST /relays`
pub async fn add(
    State(state): State<ApiState>,
    body: Result<JsonBody<RelayBody>, ApiError>,
) -> ApiResult<Json<Value>> {
    let JsonBody(body) = body?;
    let report = state.relays.add(&body.url).await.map_err(api_error)?;
    Ok(Json(json!(report)))
}

/// `DELETE /relays`
pub async fn remove(
    State(state): State<ApiState>,
    body: Result<JsonBody<RelayBody>, ApiError>,
) -> ApiResult<Json<Value>> {
    let JsonBody(body) = body?;
    let report = state.relays.remove(&body.url).await.map_err(api_error)?;
    Ok(Json(json!(report)))
}

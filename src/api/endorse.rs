//! Endorsements through the API: who endorses whom (`GET /trust/{did}/endorsements`), the
//! keys the node signs with (`GET /trust/keys`) and signing one (`POST /trust/endorse`,
//! admin token: the node signs with a key of its home, see [`crate::node::endorse`]).

use atoll_catalog::EndorsementRow;
use atoll_registry::Did;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{Json as JsonBody, Path};
use super::ApiState;
use crate::node::endorse::EndorseRequest;

/// Most endorsements listed per side.
const MAX_LISTED: u32 = 200;

fn row_json(r: &EndorsementRow) -> Value {
    json!({
        "signer": r.signer.to_string(),
        "signer_name": r.signer_name,
        "subject": r.subject.to_string(),
        "subject_name": r.subject_name,
        "weight": r.weight,
        "kind": if r.weight > 0.0 { "endorsement" } else if r.weight < 0.0 { "report" } else { "withdrawn" },
        "reason": r.reason,
        "sequence": r.sequence,
        "created_at": r.created_at,
    })
}

/// `GET /trust/{did}/endorsements`: given and received, newest first (at most 200 each).
pub async fn of(State(state): State<ApiState>, Path(did): Path<String>) -> ApiResult<Json<Value>> {
    let did: Did = did
        .parse()
        .map_err(|e| ApiError::bad_request(format!("did: {e}")))?;
    state
        .read_catalog(move |c| {
            let e = c
                .endorsements_of(&did, MAX_LISTED)
                .map_err(ApiError::internal)?;
            Ok(Json(json!({
                "did": did.to_string(),
                "given": e.given.iter().map(row_json).collect::<Vec<_>>(),
                "received": e.received.iter().map(row_json).collect::<Vec<_>>(),
            })))
        })
        .await
}

/// `GET /trust/keys`: name and DID of each key the node can sign endorsements with.
pub async fn keys(State(state): State<ApiState>) -> Json<Value> {
    Json(state.net.signing_keys().await)
}

/// `POST /trust/endorse` with `{key, did, weight, reason}`: weight in [-1, 1] (below 0
/// reports, 0 withdraws an earlier one).
pub async fn endorse(
    State(state): State<ApiState>,
    body: Result<JsonBody<EndorseRequest>, ApiError>,
) -> ApiResult<Json<Value>> {
    let JsonBody(req) = body?;
    state.net.endorse(req).await.map(Json)
}

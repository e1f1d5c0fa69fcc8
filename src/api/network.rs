//! Node status and the network page: relays, peers, sync, rejected input.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::ApiState;

/// `GET /status`: what the header of the UI shows.
pub async fn status(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let demo = state.demo;
    let (apps, publishers) = state
        .read_catalog(|c| c.counts().map_err(ApiError::internal))
        .await?;
    let net = state.net.snapshot().await;
    let relays_connected = net["relays"]
        .as_array()
        .map(|r| r.iter().filter(|x| x["status"] == "connected").count())
        .unwrap_or(0);
    Ok(Json(json!({
        "demo": demo,
        "demo_publisher": state.demo_publisher.as_ref().map(ToString::to_string),
        "apps": apps,
        "publishers": publishers,
        "relays_connected": relays_connected,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// `GET /network`
pub async fn network(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    // Overrides are audited beside refused input, but they are not rejected input.
    let audit: Vec<_> = state
        .read_catalog(|c| c.audit_log(200).map_err(ApiError::internal))
        .await?
        .into_iter()
        .filter(|a| a.kind != atoll_catalog::AuditKind::Override)
        .collect();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for a in &audit {
        *by_reason.entry(a.kind.as_str().to_owned()).or_default() += 1;
    }
    let mut out = state.net.snapshot().await;
    out["rejected"] = json!({
        "total": audit.len(),
        "by_reason": by_reason,
        "recent": audit.iter().take(50).map(|a| json!({
            "at": a.at, "kind": a.kind, "reason": a.reason, "subject": a.subject,
            "source": a.provenance.as_ref().map(|p| format!("{}: {}", p.kind(), p.source())),
        })).collect::<Vec<_>>(),
    });
    Ok(Json(out))
}

/// Query of `GET /audit`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    kind: Option<String>,
    limit: Option<u32>,
}

/// `GET /audit?kind&limit`: the newest audit rows (refused input and guard overrides),
/// newest first; `kind` keeps one kind (`override`, `rollback`, ...), `limit` 1 to 1000.
pub async fn audit(
    State(state): State<ApiState>,
    super::extract::Query(q): super::extract::Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be 1 to 1000"));
    }
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(atoll_catalog::AuditKind::from_stored(k).map_err(|_| {
            ApiError::bad_request(format!(
                "kind: {:?} is not one of {}",
                super::error::clip(k, 40),
                atoll_catalog::AuditKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
    };
    let rows = state
        .read_catalog(move |c| c.audit_log_of(kind, limit).map_err(ApiError::internal))
        .await?;
    Ok(Json(json!(rows
        .iter()
        .map(|a| json!({
            "id": a.id, "at": a.at, "kind": a.kind, "reason": a.reason, "subject": a.subject,
            "source": a.provenance.as_ref().map(|p| format!("{}: {}", p.kind(), p.source())),
        }))
        .collect::<Vec<_>>())))
}

//! Trust: publishers with scores, explanations, and the operator's pin / block decisions.

use atoll_catalog::{CatalogError, TrustDecision, TrustExplanation};
use atoll_registry::Did;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::apps::trust_json;
use super::error::{clip, ApiError, ApiResult};
use super::extract::{Json as JsonBody, Path};
use super::ApiState;

/// Human lines of an explanation: the path from an anchor, then penalties and reports.
pub fn explanation_lines(x: &TrustExplanation) -> (String, Vec<String>, Vec<String>) {
    let who = |did: &Did, name: &Option<String>| match name {
        Some(n) => format!("{n} ({})", did.short()),
        None => did.short(),
    };
    let mut path = Vec::new();
    for (i, step) in x.path.iter().enumerate() {
        let name = who(&step.did, &step.name);
        match (i, step.weight) {
            (0, _) => path.push(format!("you pinned {name}: {:.2}", step.score)),
            (_, Some(w)) => path.push(format!(
                "endorsed with weight {w:.2} → {name}: {:.2} (damping {:.2})",
                step.score, x.damping
            )),
            (_, None) => path.push(format!("{name}: {:.2}", step.score)),
        }
    }
    let mut penalties: Vec<String> = x
        .penalties
        .iter()
        .map(|p| format!("{}: {}", p.kind, p.detail))
        .collect();
    penalties.extend(x.reports.iter().map(|r| {
        format!(
            "reported by {} (weight {:.2}): {}",
            who(&r.by, &r.by_name),
            r.weight,
            r.reason
        )
    }));
    let summary = match x.decision {
        Some(TrustDecision::Pin) => "pinned by this node's operator (an anchor)".to_owned(),
        Some(TrustDecision::Block) if x.pinned => {
            "blocked by this node's operator (the pin is kept and applies again after unblock)"
                .to_owned()
        }
        Some(TrustDecision::Block) => "blocked by this node's operator".to_owned(),
        _ if x.path.is_empty() => "no path of endorsements from a pinned publisher".to_owned(),
        _ => format!(
            "{} step(s) from a pinned publisher",
            x.path.len().saturating_sub(1)
        ),
    };
    (summary, path, penalties)
}

/// The explanation as the API returns it.
pub fn explanation_json(x: &TrustExplanation) -> Value {
    let (summary, path, penalties) = explanation_lines(x);
    json!({
        "did": x.did.to_string(),
        "name": x.name,
        "score": x.score,
        "decision": x.decision,
        "pinned": x.pinned,
        "summary": summary,
        "path": path,
        "penalties": penalties,
        "details": x,
    })
}

/// `GET /trust`
pub async fn list(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    state
        .read_catalog(|c| {
            let rows = c.trust_list(1000).map_err(ApiError::internal)?;
            Ok(Json(json!(rows
                .iter()
                .map(|r| {
                    let mut v = trust_json(r.score, r.decision);
                    v["did"] = json!(r.did.to_string());
                    v["name"] = json!(r.name);
                    v["hops"] = json!(r.hops);
                    v["penalties"] = json!(r.penalties);
                    // A pin kept while blocked: it applies again after unblock.
                    v["pin_kept"] = json!(r.pinned && r.decision == Some(TrustDecision::Block));
                    v
                })
                .collect::<Vec<_>>())))
        })
        .await
}

fn parse_did(s: &str) -> ApiResult<Did> {
    s.parse()
        .map_err(|e| ApiError::bad_request(format!("did: {e}")))
}

fn catalog_err(e: CatalogError) -> ApiError {
    match e {
        CatalogError::NotFound(m) => ApiError::not_found(m.to_string()),
        CatalogError::Note(n) => ApiError::bad_request(n.to_string()),
        other => ApiError::internal(other),
    }
}

/// `GET /trust/{did}/explain`
pub async fn explain(
    State(state): State<ApiState>,
    Path(did): Path<String>,
) -> ApiResult<Json<Value>> {
    let did = parse_did(&did)?;
    state
        .read_catalog(move |c| {
            let mut v = explanation_json(&c.explain(&did).map_err(catalog_err)?);
            v["key_history"] = json!(c.key_history(&did).map_err(catalog_err)?);
            Ok(Json(v))
        })
        .await
}

/// Body of `POST /trust/{op}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustChange {
    did: String,
    #[serde(default)]
    note: String,
}

/// `POST /trust/{pin|unpin|block|unblock}`
pub async fn change(
    State(state): State<ApiState>,
    Path(op): Path<String>,
    body: Result<JsonBody<TrustChange>, ApiError>,
) -> ApiResult<Json<Value>> {
    if !matches!(op.as_str(), "pin" | "unpin" | "block" | "unblock") {
        return Err(ApiError::not_found(format!(
            "trust operation {:?} does not exist (pin, unpin, block, unblock)",
            clip(&op, 40)
        )));
    }
    let JsonBody(body) = body?;
    let did = parse_did(&body.did)?;
    state
        .write_catalog(move |c| {
            match op.as_str() {
                "pin" => c.pin(&did, &body.note).map(|()| true),
                "block" => c.block(&did, &body.note).map(|()| true),
                "unpin" => c.unpin(&did),
                _ => c.unblock(&did),
            }
            .map_err(catalog_err)?;
            c.recompute_trust().map_err(ApiError::internal)?;
            let x = c.explain(&did).map_err(catalog_err)?;
            Ok(Json(explanation_json(&x)))
        })
        .await
}

//! The node's side of `POST /api/v1/publish` and `POST /api/v1/publish/event`: verify a
//! release or an event signed by a publisher elsewhere, then store, ingest and announce
//! it through the same code as the offline `atoll app publish`
//! ([`atoll_discovery::publish::release`]).

use atoll_catalog::CatalogService;
use atoll_discovery::codec::{self, Object};
use atoll_discovery::publish::release::{self, ReleaseError};
use atoll_discovery::publish::PublishAppError;
use atoll_discovery::Discovery;
use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::api::upload::{Unpacked, ENTRY_EVENT, PROFILE_EVENT};
use crate::api::{ApiError, ApiResult};

pub(crate) fn refused(e: PublishAppError) -> ApiError {
    match e {
        PublishAppError::Refused(reason) => {
            ApiError::conflict(format!("the node's pipeline refused it: {reason}"))
        }
        PublishAppError::Release(e) => ApiError::bad_request(e.to_string()),
        e @ PublishAppError::Deferred => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
        PublishAppError::Announce(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "unavailable",
            format!("announcing: {e}"),
        ),
        other => ApiError::internal(other),
    }
}

/// What a publisher needs to sign an origin for this node.
pub async fn node_info(d: &Discovery) -> Value {
    json!({
        "node_id": d.node_id(),
        "addrs": d.blobs().addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "iroh_relays": d.blobs().relay_urls(),
        "outbox": atoll_discovery::publish::default_outbox(d),
        "relays": d.relays().states().iter().map(|r| r.url.clone()).collect::<Vec<_>>(),
        "embedded_relay": d.embedded_relay_url(),
    })
}

/// Verify an uploaded release, then store and announce it. The temporary bundle is
/// removed in every case.
pub async fn release(d: &Discovery, up: Unpacked) -> ApiResult<Value> {
    let parse = |name: &str, text: &str| {
        codec::parse_event(text).map_err(|r| ApiError::bad_request(format!("{name}: {r}")))
    };
    let entry_event = parse(ENTRY_EVENT, &up.entry_event)?;
    let profile_event = parse(PROFILE_EVENT, &up.profile_event)?;
    let node = d.node_id();
    let dir = up.dir.path().to_owned();
    let checked = tokio::task::spawn_blocking(move || {
        release::check_release(&node, &dir, entry_event, profile_event)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e: ReleaseError| ApiError::bad_request(e.to_string()))?;
    let published = release::store_release(d, checked).await.map_err(refused)?;
    drop(up);
    tracing::info!(app = %published.app, version = %published.version, "release published through the API");
    Ok(json!({
        "app": published.app,
        "version": published.version,
        "sequence": published.sequence,
        "yanked": published.yanked,
        "entry_event": published.entry_event,
        "profile_event": published.profile_event,
        "relays": published.relays,
        "blobs": published.blobs,
        "origin": published.origin,
    }))
}

/// Verify one signed event (an entry such as a yank, a publisher profile, an
/// endorsement, a key rotation), then ingest and announce it.
pub async fn event(d: &Discovery, catalog: &CatalogService, text: String) -> ApiResult<Value> {
    let bad = |m: String| ApiError::bad_request(m);
    let event = codec::parse_event(&text).map_err(|r| bad(format!("body: {r}")))?;
    let decoded = codec::decode(&event)
        .map_err(|r| bad(format!("event: {r}")))?
        .ok_or_else(|| bad("event: not an atoll event (kind 30078 with t=atoll)".into()))?;
    let key = decoded.pubkey.to_hex();
    let signer = match &decoded.object {
        Object::Publisher(p) => {
            if !p.nostr_keys.contains(&key) {
                return Err(bad(format!(
                    "event: signed by Nostr key {key}, which the profile it carries does not list"
                )));
            }
            None
        }
        Object::Entry(e) => {
            let this = d.node_id();
            if e.origin.node_id.as_deref() != Some(this.as_str()) {
                return Err(bad(format!(
                    "event: the entry's origin is node {}, but this node is {this}",
                    e.origin.node_id.as_deref().unwrap_or("(none)")
                )));
            }
            Some(e.publisher)
        }
        Object::Endorsement(e) => Some(e.signer),
        // A rotation proves itself (signed by the key it reveals, carried by that key's
        // Nostr key); the pipeline checks it against the identity's key state.
        Object::Rotation(_) => None,
        other => {
            return Err(bad(format!(
                "event: carries a {}; this route takes entries (a yank), publisher profiles, endorsements and key rotations",
                other.kind().as_str()
            )))
        }
    };
    if let Some(did) = signer {
        let k = key.clone();
        let dids = catalog
            .read(move |c| c.dids_for_nostr_key(&k))
            .await
            .map_err(ApiError::internal)?;
        if !dids.contains(&did) {
            return Err(bad(format!(
                "event: signed by Nostr key {key}, which no profile of {did} this node holds lists (publish the profile first)"
            )));
        }
    }
    let kind = decoded.object.kind().as_str();
    let id = event.id.to_hex();
    let relays = release::announce_signed(d, event).await.map_err(refused)?;
    Ok(json!({ "event": id, "kind": kind, "relays": relays }))
}

//! The node's side of `POST /api/v1/trust/endorse`: the web UI holds no publisher key, so
//! the node signs with a key of its own home's `keys/` directory, chosen by name (the
//! route needs the admin token, like every POST). Whoever holds the token can thus sign
//! as any key in that directory; keep there only the keys this node may sign with.

use atoll_catalog::CatalogService;
use atoll_discovery::publish::endorse::{publish_endorsement, sign_endorsement};
use atoll_discovery::publish::PublishAppError;
use atoll_discovery::Discovery;
use atoll_registry::{Did, KeyError, KeyStore};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{ApiError, ApiResult};

/// Body of `POST /trust/endorse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndorseRequest {
    /// Name of the signing key in the node's `keys/` directory.
    pub key: String,
    /// The subject's did:key.
    pub did: String,
    /// In [-1, 1]: above 0 endorses, 0 withdraws, below 0 reports.
    pub weight: f64,
    /// Why (at most 1024 bytes).
    #[serde(default)]
    pub reason: String,
}

/// The keys the node can sign endorsements with: name and DID (never the path or the
/// secret).
pub fn signing_keys(keys: &KeyStore) -> Value {
    let list = keys.list().unwrap_or_default();
    json!(list
        .into_iter()
        .filter_map(Result::ok)
        .map(|k| json!({ "name": k.name, "did": k.did.to_string() }))
        .collect::<Vec<_>>())
}

/// Check, sign with the named key, and announce (with the key's profile first if this
/// node holds none binding its Nostr key).
pub async fn endorse(
    d: &Discovery,
    catalog: &CatalogService,
    keys: &KeyStore,
    req: EndorseRequest,
) -> ApiResult<Value> {
    let subject: Did = req
        .did
        .parse()
        .map_err(|e| ApiError::bad_request(format!("did: {e}")))?;
    let key = match keys.load(&req.key) {
        Ok(k) => k,
        Err(KeyError::NotFound { name, .. }) => {
            return Err(ApiError::not_found(format!(
                "key: no key named {name:?} in this node's keys/ directory (GET /api/v1/trust/keys lists them)"
            )));
        }
        Err(e) => return Err(ApiError::bad_request(format!("key: {e}"))),
    };
    let signer = key.did();
    let nostr = key
        .nostr_keys()
        .map_err(ApiError::internal)?
        .public_key()
        .to_hex();
    let (after, bound) = catalog
        .read(move |c| {
            Ok((
                c.endorsement_sequence(&signer, &subject)?,
                c.dids_for_nostr_key(&nostr)?.contains(&signer),
            ))
        })
        .await
        .map_err(ApiError::internal)?;
    let signed =
        sign_endorsement(&key, subject, req.weight, &req.reason, after).map_err(|e| match e {
            PublishAppError::Envelope(e) => ApiError::bad_request(format!("endorsement: {e}")),
            other => ApiError::internal(other),
        })?;
    let out = publish_endorsement(d, &key, &req.key, &signed, !bound)
        .await
        .map_err(super::publish::refused)?;
    tracing::info!(signer = %signer, subject = %subject, weight = req.weight, "endorsement signed by the node");
    serde_json::to_value(out).map_err(ApiError::internal)
}

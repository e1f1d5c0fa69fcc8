//! The swarm behind the API: the network page from the discovery node's status, and
//! blobs (icons) read from its verified iroh-blobs store.

use atoll_catalog::CatalogService;
use atoll_discovery::Discovery;
use atoll_registry::Hash;
use serde_json::{json, Value};

use crate::api::upload::Unpacked;
use crate::api::{ApiResult, BoxFut, NetworkInfo};

/// The node's discovery (embedded relay, relay pool, iroh endpoint and store, pipeline).
pub struct Swarm {
    d: Discovery,
    catalog: CatalogService,
    keys: Option<atoll_registry::KeyStore>,
}

impl Swarm {
    /// Wrap a started discovery node (and the catalog it stores into).
    pub fn new(d: Discovery, catalog: CatalogService) -> Self {
        Self {
            d,
            catalog,
            keys: None,
        }
    }

    /// Sign endorsements for the API with the keys in `keys` ([`super::endorse`]).
    pub fn with_keys(mut self, keys: atoll_registry::KeyStore) -> Self {
        self.keys = Some(keys);
        self
    }
}

/// A discovery node's status as JSON, with the display form of each relay's source
/// (`source_text`) and of each rejection (`text`): what `atoll sync status` prints, from
/// the running node's API or from a short-lived node of the CLI's own.
pub fn status_json(s: &atoll_discovery::SyncStatus) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Some(relays) = v["relays"].as_array_mut() {
        for (out, r) in relays.iter_mut().zip(&s.relays) {
            out["source_text"] = json!(r.source.to_string());
        }
    }
    if let Some(rejections) = v["recent_rejections"].as_array_mut() {
        for (out, r) in rejections.iter_mut().zip(&s.recent_rejections) {
            out["text"] = json!(r.to_string());
        }
    }
    v
}

impl NetworkInfo for Swarm {
    fn snapshot(&self) -> BoxFut<'_, Value> {
        Box::pin(async move {
            let s = self.d.status().await;
            json!({
                "node": {
                    "node_id": s.node_id,
                    "blob_addrs": s.blob_addrs,
                    "embedded_relay": s.embedded_relay,
                    "iroh": s.iroh,
                },
                "relays": s.relays.iter().map(|r| json!({
                    "url": r.url,
                    "source": r.source,
                    "reason": r.source.to_string(),
                    "status": if r.connected { "connected" } else { "disconnected" },
                    "last_error": r.last_error,
                    "mode": r.mode,
                    "events": r.events,
                    "cursor": r.cursor,
                    "catch_ups": r.catch_ups,
                    "failed_connects": r.failed_connects,
                })).collect::<Vec<_>>(),
                "peers": [],
                "sync": { "counters": s.counters, "pipeline": s.pipeline },
                "pipeline_rejections": s.recent_rejections,
                // What `atoll sync status --live` shows, read from this running node.
                "sync_status": status_json(&s),
            })
        })
    }

    fn blob(&self, hash: Hash, max: u64) -> BoxFut<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            self.d
                .blobs()
                .get_bytes(&hash, max)
                .await
                .ok()
                .map(|b| b.to_vec())
        })
    }

    fn node_info(&self) -> BoxFut<'_, Value> {
        Box::pin(super::publish::node_info(&self.d))
    }

    fn publish_release(&self, upload: Unpacked) -> BoxFut<'_, ApiResult<Value>> {
        Box::pin(super::publish::release(&self.d, upload))
    }

    fn publish_event(&self, event: String) -> BoxFut<'_, ApiResult<Value>> {
        Box::pin(super::publish::event(&self.d, &self.catalog, event))
    }

    fn signing_keys(&self) -> BoxFut<'_, Value> {
        Box::pin(async move {
            match &self.keys {
                Some(k) => super::endorse::signing_keys(k),
                None => json!([]),
            }
        })
    }

    fn endorse(&self, req: super::endorse::EndorseRequest) -> BoxFut<'_, ApiResult<Value>> {
        Box::pin(async move {
            match &self.keys {
                Some(k) => super::endorse::endorse(&self.d, &self.catalog, k, req).await,
                None => Err(crate::api::ApiError::not_found(
                    "this node signs no endorsements",
                )),
            }
        })
    }
}

//! Which copy of an entry came from its origin: an entry carried by a Nostr key that the
//! publisher's signed profile binds was published by the publisher itself. Profiles may
//! arrive after the entries their keys carried; those entries are then re-ingested as the
//! origin's (the catalog records the new source and lets the origin's copy win an
//! equivocation).

use atoll_registry::{Did, Entry, Verified};
use nostr_sdk::PublicKey;

use super::{decide, Pipeline, MAX_UNBOUND};
use crate::port::{OriginName, Source};

impl Pipeline {
    pub(super) fn source_of(
        &self,
        relay: &str,
        pubkey: &PublicKey,
        did: &Did,
        entry: &Entry,
    ) -> Source {
        let bound = self
            .bound
            .get(did)
            .is_some_and(|(_, keys)| keys.iter().any(|k| *k == pubkey.to_hex()));
        if bound {
            let origin = match (&entry.origin.node_id, entry.origin.https.first()) {
                (Some(node), _) => Some(OriginName::Node(node.clone())),
                (None, Some(url)) => Some(OriginName::Https(url.clone())),
                (None, None) => None,
            };
            Source::Origin {
                relay: relay.to_owned(),
                origin,
            }
        } else {
            Source::Relay(relay.to_owned())
        }
    }

    pub(super) fn remember_unbound(&mut self, key: PublicKey, entry: &Verified<Entry>) {
        if self.unbound_len >= MAX_UNBOUND {
            self.unbound.clear();
            self.unbound_len = 0;
        }
        self.unbound.entry(key).or_default().push(entry.clone());
        self.unbound_len += 1;
    }

    /// A profile now binds `keys` to `did`: entries of `did` those keys carried before
    /// count as the origin's. The catalog records the origin as a new source of the same
    /// signed bytes (and lets the origin's copy win an equivocation).
    pub(super) async fn upgrade_to_origin(&mut self, relay: &str, did: &Did, keys: &[String]) {
        let is_bound = |k: &PublicKey| keys.iter().any(|b| *b == k.to_hex());
        // Entries of this batch, not yet in the catalog: just change their source.
        let mut queued = std::mem::take(&mut self.queued);
        for q in queued.iter_mut() {
            if q.entry.publisher == *did && is_bound(&q.pubkey) {
                q.source = self.source_of(&q.relay, &q.pubkey, did, &q.entry);
            }
        }
        self.queued = queued;
        let bound: Vec<PublicKey> = self
            .unbound
            .keys()
            .filter(|k| is_bound(k))
            .copied()
            .collect();
        for key in bound {
            let Some(entries) = self.unbound.remove(&key) else {
                continue;
            };
            self.unbound_len = self.unbound_len.saturating_sub(entries.len());
            for entry in entries.iter().filter(|e| e.publisher == *did) {
                if self
                    .queued
                    .iter()
                    .any(|q| q.entry.payload_id() == entry.payload_id())
                {
                    continue;
                }
                let source = self.source_of(relay, &key, did, entry);
                let verdict = self.ctx.port.ingest_entry(entry, &source).await;
                if let Err(e) = &verdict {
                    tracing::warn!(error = %e, "catalog failed on an origin upgrade");
                }
                if decide::origin_upgrade(&verdict) {
                    self.queue_blobs(entry.clone(), "queued");
                }
            }
        }
    }
}

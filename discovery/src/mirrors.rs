//! Which nodes announced which blobs: the mirror book the fetcher's source list comes from.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use atoll_registry::objects::Entry;
use atoll_registry::Hash;
use iroh::{EndpointId, RelayUrl};

use crate::announce::MirrorAnnouncement;
use crate::blobs::{BlobSource, SourceKind};

#[derive(Debug, Clone)]
struct Holder {
    addrs: Vec<SocketAddr>,
    relays: Vec<RelayUrl>,
    /// First announcement of this blob by this node (oldest mirrors are tried first).
    since: u64,
}

/// Mirrors by blob. Bounded: at most [`MirrorBook::MAX_HOLDERS`] nodes per blob and
/// [`MirrorBook::MAX_BLOBS`] blobs (anyone can announce any hash; the blobs learned first
/// are forgotten first).
#[derive(Debug, Default)]
pub struct MirrorBook {
    by_blob: HashMap<Hash, HashMap<EndpointId, Holder>>,
    /// Blobs in the order they were first announced.
    order: VecDeque<Hash>,
}

impl MirrorBook {
    /// Most holders remembered per blob.
    pub const MAX_HOLDERS: usize = 64;
    /// Most blobs remembered.
    pub const MAX_BLOBS: usize = 16_384;

    /// Learn from a verified announcement. Returns the blobs it names.
    pub fn learn(&mut self, a: &MirrorAnnouncement) -> Vec<Hash> {
        let Ok(node) = EndpointId::from_bytes(&a.node.public_bytes()) else {
            return Vec::new();
        };
        let addrs = a.socket_addrs();
        let relays = a.relay_urls();
        for hash in &a.blobs {
            if !self.by_blob.contains_key(hash) {
                while self.by_blob.len() >= Self::MAX_BLOBS {
                    match self.order.pop_front() {
                        Some(old) => {
                            self.by_blob.remove(&old);
                        }
                        None => break,
                    }
                }
                self.order.push_back(*hash);
            }
            let holders = self.by_blob.entry(*hash).or_default();
            if holders.len() >= Self::MAX_HOLDERS && !holders.contains_key(&node) {
                continue;
            }
            let h = holders.entry(node).or_insert(Holder {
                addrs: Vec::new(),
                relays: Vec::new(),
                since: a.announced_at_ms,
            });
            h.addrs = addrs.clone();
            h.relays = relays.clone();
            h.since = h.since.min(a.announced_at_ms);
        }
        a.blobs.clone()
    }

    /// Number of (blob, node) pairs known.
    pub fn len(&self) -> usize {
        self.by_blob.values().map(HashMap::len).sum()
    }

    /// True if nothing is known.
    pub fn is_empty(&self) -> bool {
        self.by_blob.is_empty()
    }

    /// Where to get `hash` of `entry`: its origin, then mirrors oldest first, then HTTPS.
    pub fn sources(&self, entry: &Entry, hash: &Hash, https: bool) -> Vec<BlobSource> {
        let mut out = Vec::new();
        let origin = entry
            .origin
            .node_id
            .as_deref()
            .and_then(|id| id.parse::<EndpointId>().ok());
        if let Some(id) = origin {
            let addrs = entry
                .origin
                .addrs
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            out.push(
                BlobSource::node(SourceKind::Origin, id, addrs)
                    .with_relays(crate::blobs::relay_urls(&entry.origin.relays)),
            );
        }
        if let Some(holders) = self.by_blob.get(hash) {
            let mut list: Vec<(&EndpointId, &Holder)> = holders
                .iter()
                .filter(|(id, _)| Some(**id) != origin)
                .collect();
            list.sort_by_key(|(id, h)| (h.since, id.as_bytes().to_owned()));
            out.extend(list.into_iter().map(|(id, h)| {
                BlobSource::node(SourceKind::Mirror, *id, h.addrs.clone())
                    .with_relays(h.relays.clone())
            }));
        }
        if https {
            out.extend(entry.origin.https.iter().map(BlobSource::https));
        }
        out
    }
}

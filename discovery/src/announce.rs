//! Mirror announcements (`atoll/mirror/v1`): a node says "I hold these blobs, dial me here".
//!
//! The announcement is signed by the node key itself (an ed25519 key whose did:key and iroh
//! node id are the same public key), so nobody can announce a mirror for a node they do not
//! run. A false announcement can only waste a bounded fetch attempt: every byte is verified
//! against the hash the publisher signed.

use std::net::SocketAddr;

use atoll_registry::objects::{Field, PayloadProblem};
use atoll_registry::{Did, Hash, Payload};
use serde::{Deserialize, Serialize};

use crate::MAX_ADDRS;

/// `atoll/mirror/v1`
pub const MIRROR_TYPE: &str = "atoll/mirror/v1";
/// Most blobs one announcement may name (an entry's manifest and artifacts).
pub const MAX_MIRROR_BLOBS: usize = atoll_registry::objects::MAX_ARTIFACTS + 1;

/// The payload type tag `atoll/mirror/v1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorType;

impl Serialize for MirrorType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(MIRROR_TYPE)
    }
}

impl<'de> Deserialize<'de> for MirrorType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == MIRROR_TYPE {
            Ok(MirrorType)
        } else {
            Err(serde::de::Error::custom(format!(
                "expected type {MIRROR_TYPE:?}, found {s:?}"
            )))
        }
    }
}

/// A node's statement that it holds and serves a set of blobs (those of one entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorAnnouncement {
    /// Always `atoll/mirror/v1`.
    #[serde(rename = "type")]
    pub kind: MirrorType,
    /// The node key as a did:key (its public key is the iroh node id).
    pub node: Did,
    /// Direct socket addresses of the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addrs: Vec<String>,
    /// iroh relay server URLs the node is reachable through (omitted when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<String>,
    /// The manifest hash of the entry whose blobs these are (groups the announcement).
    pub manifest: Hash,
    /// Blobs held, complete and verified.
    pub blobs: Vec<Hash>,
    /// Unix milliseconds (older announcements are tried first).
    pub announced_at_ms: u64,
}

impl MirrorAnnouncement {
    /// The iroh node id (hex) of the announcing node.
    pub fn node_id_hex(&self) -> String {
        hex::encode(self.node.public_bytes())
    }

    /// The addresses that parse as socket addresses.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.iter().filter_map(|a| a.parse().ok()).collect()
    }

    /// The relay URLs that parse as iroh relay URLs.
    pub fn relay_urls(&self) -> Vec<iroh::RelayUrl> {
        crate::blobs::relay_urls(&self.relays)
    }
}

impl Payload for MirrorAnnouncement {
    const TYPE: &'static str = MIRROR_TYPE;
    fn authority(&self) -> &Did {
        &self.node
    }
    fn check(&self) -> Result<(), PayloadProblem> {
        if self.blobs.is_empty() || self.blobs.len() > MAX_MIRROR_BLOBS {
            return Err(PayloadProblem::Count {
                field: Field::named("blobs"),
                min: 1,
                max: MAX_MIRROR_BLOBS,
                found: self.blobs.len(),
            });
        }
        if self.addrs.len() > MAX_ADDRS || self.addrs.iter().any(|a| a.len() > 64) {
            return Err(PayloadProblem::Addresses {
                field: Field::named("addrs"),
                max: MAX_ADDRS,
                max_len: 64,
            });
        }
        atoll_registry::objects::check_relay_urls("relays", &self.relays)?;
        if self.announced_at_ms > atoll_registry::objects::MAX_SAFE_INTEGER {
            return Err(PayloadProblem::UnsafeInteger {
                field: Field::named("announced_at_ms"),
                value: self.announced_at_ms,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn announcement(relays: &[&str]) -> MirrorAnnouncement {
        MirrorAnnouncement {
            kind: MirrorType,
            node: atoll_registry::Keypair::from_seed([9; 32]).did(),
            addrs: vec!["192.0.2.1:7880".into()],
            relays: relays.iter().map(|r| (*r).to_owned()).collect(),
            manifest: Hash::of(b"m"),
            blobs: vec![Hash::of(b"m")],
            announced_at_ms: 1,
        }
    }

    #[test]
    fn relay_urls_are_bounded_http_or_https_and_omitted_when_none() {
        let good = announcement(&["http://10.0.0.1:3340", "https://relay.example.org"]);
        good.check().unwrap();
        assert_eq!(good.relay_urls().len(), 2);
        let json = serde_json::to_string(&announcement(&[])).unwrap();
        assert!(!json.contains("relays"), "{json}");
        let err = announcement(&["https://ok.example", "ws://10.0.0.1"])
            .check()
            .unwrap_err();
        assert!(
            matches!(err, PayloadProblem::NotIrohRelayUrl { .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("relays[1]:"), "{err}");
        let many = vec!["http://r"; 9];
        let err = announcement(&many).check().unwrap_err();
        assert!(err.to_string().starts_with("relays:"), "{err}");
    }
}

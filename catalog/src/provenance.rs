//! Where a signed object came from.

use std::fmt;

use atoll_registry::Entry;
use serde::{Deserialize, Serialize};

/// Where an object was obtained. Recorded for every entry (an entry seen from several
/// places keeps every source) and for every rejection in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "source", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Provenance {
    /// A Nostr relay, by URL.
    Relay(String),
    /// Another node (a mirror), by iroh node id.
    Peer(String),
    /// The publisher's own origin, by the iroh node id or HTTPS base URL it was fetched
    /// from. It counts as the origin only if the entry itself names that node or URL in
    /// its signed `origin`; otherwise it is treated as a [`Provenance::Peer`].
    Origin(String),
    /// A file the operator imported by hand, by path.
    Local(String),
}

impl Provenance {
    /// `relay`, `peer`, `origin` or `local`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Relay(_) => "relay",
            Self::Peer(_) => "peer",
            Self::Origin(_) => "origin",
            Self::Local(_) => "local",
        }
    }

    /// The URL, node id or path.
    pub fn source(&self) -> &str {
        match self {
            Self::Relay(s) | Self::Peer(s) | Self::Origin(s) | Self::Local(s) => s,
        }
    }

    /// Rebuild from the stored kind and source.
    pub fn from_parts(kind: &str, source: String) -> Option<Self> {
        Some(match kind {
            "relay" => Self::Relay(source),
            "peer" => Self::Peer(source),
            "origin" => Self::Origin(source),
            "local" => Self::Local(source),
            _ => return None,
        })
    }

    /// Is this the origin that `entry` itself names (its iroh node id or an HTTPS base)?
    pub fn is_origin_of(&self, entry: &Entry) -> bool {
        match self {
            Self::Origin(s) => {
                entry.origin.node_id.as_deref() == Some(s.as_str())
                    || entry.origin.https.iter().any(|u| u == s)
            }
            _ => false,
        }
    }

    /// The provenance to record for `entry`: an `Origin` claim the entry does not back is
    /// downgraded to `Peer`.
    pub(crate) fn effective_for(&self, entry: &Entry) -> Self {
        match self {
            Self::Origin(s) if !self.is_origin_of(entry) => {
                tracing::warn!(source = %s, app = %entry.app_ref(), "claimed origin is not the entry's origin; recorded as a peer");
                Self::Peer(s.clone())
            }
            other => other.clone(),
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.source())
    }
}

//! Why the node uses a relay: [`RelaySource`], shown by `atoll sync status` beside each
//! relay's state.

use serde::Serialize;

/// Why a relay is in the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RelaySource {
    /// The node's own embedded relay (never removed at runtime).
    Embedded,
    /// Named by the node's configuration (`[relays] external`).
    Config,
    /// Added by the operator while the node ran (`atoll sync relay add`, API, UI).
    Operator,
    /// Named by the signed profiles of publishers this node trusts (their outbox). Read
    /// from, never written to.
    Outbox {
        /// The publishers, with why each is trusted.
        publishers: Vec<OutboxReason>,
    },
}

/// One publisher whose outbox names a relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxReason {
    /// The publisher's DID.
    pub did: String,
    /// Why this node trusts it (`pinned`, `score 0.72 >= 0.50`).
    pub why: String,
}

impl RelaySource {
    /// The node publishes to this relay (its own events, mirror announcements): every
    /// relay but an outbox one, which belongs to someone else.
    pub fn writes(&self) -> bool {
        !matches!(self, Self::Outbox { .. })
    }
}

impl std::fmt::Display for RelaySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str("embedded"),
            Self::Config => f.write_str("config"),
            Self::Operator => f.write_str("operator"),
            Self::Outbox { publishers } => {
                f.write_str("outbox of ")?;
                for (i, p) in publishers.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} ({})", p.did, p.why)?;
                }
                Ok(())
            }
        }
    }
}

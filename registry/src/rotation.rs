//! Key rotation with pre-commitment (the KERI idea), as pure rules over an identity's
//! key state: which rotation is accepted ([`KeyState::decide`]) and which key may sign
//! what after a rotation ([`KeyState::may_sign`]). No I/O: the catalog stores the state
//! and calls these.
//!
//! An identity is the DID of its first key, k0. Each key commits to the next one
//! ([`key_commitment`] of its public key, carried as `next_key` by the profile at index 0
//! and by every rotation). Rotation n reveals k_n, which must hash to the commitment of
//! index n−1, so a thief holding only the current key cannot rotate.

use std::fmt;

use crate::did::Did;
use crate::hash::Hash;
use crate::names::AppId;
#[cfg(test)]
use crate::objects::MAX_LAST_ITEMS;
use crate::objects::{LastSigned, Rotation};

/// Domain-separation context of a key commitment.
const COMMITMENT_CONTEXT: &str = "atoll 2026-12 next key commitment v1";

/// The commitment to a key: `BLAKE3-derive_key("atoll 2026-12 next key commitment v1",
/// public key bytes)`, 64 lowercase hex characters.
pub fn key_commitment(key: &Did) -> String {
    hex::encode(blake3::derive_key(COMMITMENT_CONTEXT, &key.public_bytes()))
}

/// An accepted rotation, as the key state keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRotation {
    /// n.
    pub index: u64,
    /// k_n.
    pub key: Did,
    /// The commitment to k_{n+1}.
    pub next_key: String,
    /// What k_{n−1} signed legitimately.
    pub last: LastSigned,
    /// Its payload id (a different payload with the same n is a fork).
    pub payload_id: Hash,
}

/// An identity's keys: the inception commitment and the accepted rotations, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// The identity (k0's DID).
    pub did: Did,
    /// The commitment to k1, fixed by the first profile accepted that carried one.
    pub inception: Option<String>,
    /// Rotations 1..=n, in order (`rotations[i]` is rotation i+1).
    pub rotations: Vec<AcceptedRotation>,
}

/// Why a rotation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RotationRefusal {
    /// The rotation is for another identity than the state's (never from the catalog).
    #[error("the rotation is for {found}, not {expected}")]
    OtherIdentity {
        /// The state's identity.
        expected: Box<Did>,
        /// The rotation's.
        found: Box<Did>,
    },
    /// Rotation n arrived before rotation n−1 (or before any commitment is known): not
    /// remembered, so a later delivery applies once the missing one has arrived.
    #[error("rotation {index} leaves a gap: the identity's keys are at index {current}{}", if *.no_commitment { " and no commitment to the next key is known yet" } else { "" })]
    Gap {
        /// The rotation's n.
        index: u64,
        /// The identity's current index.
        current: u64,
        /// No commitment to k_{current+1} is known (no profile with `next_key` seen).
        no_commitment: bool,
    },
    /// The revealed key does not hash to the previous commitment: someone holding only a
    /// current key tried to rotate.
    #[error("rotation {index}: key {key} does not match the commitment made by index {}", .index - 1)]
    CommitmentMismatch {
        /// The rotation's n.
        index: u64,
        /// The key it revealed.
        key: Box<Did>,
    },
    /// A different rotation with the same n as an accepted one.
    #[error("rotation {index} forks the key history: a different rotation {index} was accepted")]
    Fork {
        /// The contested n.
        index: u64,
    },
    /// The rotation reveals, or commits to, a key the identity used before.
    #[error("rotation {index} reuses key {key}, used before by this identity")]
    KeyReused {
        /// The rotation's n.
        index: u64,
        /// The key used again.
        key: Box<Did>,
    },
}

impl RotationRefusal {
    /// Stable short code (audit log, counters).
    pub fn code(&self) -> &'static str {
        match self {
            Self::OtherIdentity { .. } => "rotation-identity",
            Self::Gap { .. } => "rotation-gap",
            Self::CommitmentMismatch { .. } => "rotation-mismatch",
            Self::Fork { .. } => "rotation-fork",
            Self::KeyReused { .. } => "rotation-key-reused",
        }
    }

    /// A gap: refused now, but to be tried again once the missing rotation arrives.
    pub fn is_gap(&self) -> bool {
        matches!(self, Self::Gap { .. })
    }
}

/// What [`KeyState::decide`] says about a rotation that is not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationDecision {
    /// Accept it: its key becomes current.
    Accept,
    /// The same signed rotation again.
    Duplicate,
}

/// What a signed object is, for [`KeyState::may_sign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed<'a> {
    /// An entry of an app, with its sequence.
    Entry(&'a AppId, u64),
    /// A profile, with its sequence.
    Profile(u64),
    /// An endorsement of a subject, with its sequence.
    Endorsement(&'a Did, u64),
    /// Anything else the identity signs (lists): only the current key.
    Other,
}

impl fmt::Display for Signed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entry(app, seq) => write!(f, "entry {app} sequence {seq}"),
            Self::Profile(seq) => write!(f, "profile sequence {seq}"),
            Self::Endorsement(subject, seq) => {
                write!(f, "endorsement of {subject} sequence {seq}")
            }
            Self::Other => f.write_str("object"),
        }
    }
}

/// Why a key may not sign an object of an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignerRefusal {
    /// The key is not (and never was) a key of the identity.
    #[error("signed by {key}, which is not a key of {did}")]
    NotAKey {
        /// The identity.
        did: Box<Did>,
        /// The signer.
        key: Box<Did>,
    },
    /// Signed by a retired key above (or outside) what its successor's rotation names.
    #[error("signed by retired key {index} after its last legitimate {}", match .last { Some(n) => format!("sequence {n}"), None => "object (none named)".to_owned() })]
    Retired {
        /// The retired key's index.
        index: u64,
        /// The last sequence the rotation allows it, if it names one.
        last: Option<u64>,
    },
}

impl KeyState {
    /// The state of an identity that never rotated and made no commitment.
    pub fn new(did: Did) -> Self {
        Self {
            did,
            inception: None,
            rotations: Vec::new(),
        }
    }

    /// The current index (0 until the first rotation).
    pub fn index(&self) -> u64 {
        self.rotations.len() as u64
    }

    /// The key that signs now.
    pub fn current_key(&self) -> Did {
        self.rotations.last().map_or(self.did, |r| r.key)
    }

    /// The commitment to the next key, if known.
    pub fn commitment(&self) -> Option<&str> {
        match self.rotations.last() {
            Some(r) => Some(&r.next_key),
            None => self.inception.as_deref(),
        }
    }

    /// Key `index` of the identity, if it is known.
    pub fn key_at(&self, index: u64) -> Option<Did> {
        match index {
            0 => Some(self.did),
            i => self
                .rotations
                .get(usize::try_from(i - 1).ok()?)
                .map(|r| r.key),
        }
    }

    /// The index of `key` among the identity's keys, if it is one.
    pub fn index_of(&self, key: &Did) -> Option<u64> {
        if *key == self.did {
            return Some(0);
        }
        self.rotations
            .iter()
            .find(|r| r.key == *key)
            .map(|r| r.index)
    }

    /// Accept or refuse rotation `rotation` with payload id `payload_id`.
    pub fn decide(
        &self,
        rotation: &Rotation,
        payload_id: &Hash,
    ) -> Result<RotationDecision, RotationRefusal> {
        let n = rotation.index;
        if rotation.did != self.did {
            return Err(RotationRefusal::OtherIdentity {
                expected: Box::new(self.did),
                found: Box::new(rotation.did),
            });
        }
        let current = self.index();
        if n <= current {
            let accepted = &self.rotations[(n - 1) as usize];
            return if accepted.payload_id == *payload_id {
                Ok(RotationDecision::Duplicate)
            } else {
                Err(RotationRefusal::Fork { index: n })
            };
        }
        let commitment = self.commitment();
        if n > current + 1 || commitment.is_none() {
            return Err(RotationRefusal::Gap {
                index: n,
                current,
                no_commitment: commitment.is_none(),
            });
        }
        let used = |k: &Did| self.index_of(k).is_some();
        if used(&rotation.key) {
            return Err(RotationRefusal::KeyReused {
                index: n,
                key: Box::new(rotation.key),
            });
        }
        if let Some(old) = (0..=current)
            .filter_map(|i| self.key_at(i))
            .chain([rotation.key])
            .find(|k| key_commitment(k) == rotation.next_key)
        {
            return Err(RotationRefusal::KeyReused {
                index: n,
                key: Box::new(old),
            });
        }
        if commitment != Some(key_commitment(&rotation.key).as_str()) {
            return Err(RotationRefusal::CommitmentMismatch {
                index: n,
                key: Box::new(rotation.key),
            });
        }
        Ok(RotationDecision::Accept)
    }

    /// Append an accepted rotation (after [`KeyState::decide`] said `Accept`).
    pub fn apply(&mut self, rotation: &Rotation, payload_id: Hash) {
        self.rotations.push(AcceptedRotation {
            index: rotation.index,
            key: rotation.key,
            next_key: rotation.next_key.clone(),
            last: rotation.last.clone(),
            payload_id,
        });
    }

    /// May `key` sign `what` for this identity? The current key may sign anything; a
    /// retired key k_i only what rotation i+1's `last` names, up to its sequence.
    pub fn may_sign(&self, key: &Did, what: Signed<'_>) -> Result<(), SignerRefusal> {
        let Some(index) = self.index_of(key) else {
            return Err(SignerRefusal::NotAKey {
                did: Box::new(self.did),
                key: Box::new(*key),
            });
        };
        if index == self.index() {
            return Ok(());
        }
        // `index` < current: rotation index+1 retired it.
        let last = &self.rotations[index as usize].last;
        let (allowed, seq) = match what {
            Signed::Entry(app, seq) => (last.entries.get(app).copied(), seq),
            Signed::Profile(seq) => (last.profile, seq),
            Signed::Endorsement(subject, seq) => (last.endorsements.get(subject).copied(), seq),
            Signed::Other => (None, u64::MAX),
        };
        match allowed {
            Some(max) if seq <= max => Ok(()),
            last => Err(SignerRefusal::Retired { index, last }),
        }
    }
}

#[cfg(test)]
mod tests;

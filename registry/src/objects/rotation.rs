//! The rotation payload (`atoll/rotation/v1`): key k_n of an identity reveals itself,
//! commits to k_{n+1}, and names what the retired key k_{n-1} signed legitimately.
//! The rules that accept or refuse it are in [`crate::rotation`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{check_safe, Field, PayloadProblem};
use crate::did::Did;
use crate::envelope::Payload;
use crate::names::AppId;

type_tag!(
    /// `atoll/rotation/v1`
    RotationType = "atoll/rotation/v1"
);

/// Most apps, and most endorsement subjects, one rotation's `last` may name.
pub const MAX_LAST_ITEMS: usize = 1024;

/// What the retired key signed legitimately, by sequence: anything it signed above these
/// (or for an app, profile or subject not named) is void once the rotation is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastSigned {
    /// Per app: the last entry sequence the retired key signed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entries: BTreeMap<AppId, u64>,
    /// The last profile sequence the retired key signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<u64>,
    /// Per subject DID: the last endorsement sequence the retired key signed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endorsements: BTreeMap<Did, u64>,
}

/// A key rotation (`atoll/rotation/v1`), signed by the key it reveals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Always `atoll/rotation/v1`.
    #[serde(rename = "type")]
    pub kind: RotationType,
    /// The identity: the DID of its first key, k0.
    pub did: Did,
    /// The rotation's number n ≥ 1: `key` is k_n.
    pub index: u64,
    /// The key revealed (k_n); it must hash to the commitment made by index n−1.
    pub key: Did,
    /// The commitment to k_{n+1} ([`crate::rotation::key_commitment`]).
    pub next_key: String,
    /// What the retired key k_{n−1} signed legitimately.
    #[serde(default)]
    pub last: LastSigned,
    /// Unix seconds when signed.
    pub created_at: u64,
}

impl Payload for Rotation {
    const TYPE: &'static str = RotationType::VALUE;
    /// A rotation proves itself: the key it reveals signs it.
    fn authority(&self) -> &Did {
        &self.key
    }
    fn check(&self) -> Result<(), PayloadProblem> {
        check_safe(&[("index", self.index), ("created_at", self.created_at)])?;
        if self.index == 0 {
            return Err(PayloadProblem::Zero {
                field: Field::named("index"),
            });
        }
        if self.key == self.did {
            return Err(PayloadProblem::KeyIsIdentity);
        }
        super::check_commitment("next_key", &self.next_key)?;
        for (field, n) in [
            ("last.entries", self.last.entries.len()),
            ("last.endorsements", self.last.endorsements.len()),
        ] {
            if n > MAX_LAST_ITEMS {
                return Err(PayloadProblem::TooMany {
                    field: Field::named(field),
                    max: MAX_LAST_ITEMS,
                    found: n,
                });
            }
        }
        let seqs = self
            .last
            .entries
            .values()
            .chain(self.last.endorsements.values())
            .chain(self.last.profile.iter());
        if let Some(&value) = seqs.clone().find(|v| **v > super::MAX_SAFE_INTEGER) {
            return Err(PayloadProblem::UnsafeInteger {
                field: Field::named("last"),
                value,
            });
        }
        Ok(())
    }
}

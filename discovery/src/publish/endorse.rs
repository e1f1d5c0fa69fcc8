//! Signing and announcing endorsements and reports (`atoll/endorse/v1`): `atoll trust
//! endorse|report` offline and the node's `POST /api/v1/trust/endorse`. The registry
//! checks the payload when it is signed (weight in [-1, 1] and finite, no endorsement of
//! oneself, reason at most 1024 bytes), so nothing invalid is ever announced.

use atoll_registry::objects::EndorseType;
use atoll_registry::{Did, Endorsement, Envelope, Keypair, Verified};
use serde::Serialize;

use super::{now_millis, publish_profile, release, signed_here, PublishAppError};
use crate::codec::Object;
use crate::node::Discovery;

/// Sign an endorsement (weight > 0), a withdrawal (0) or a report (< 0) of `subject` by
/// `key`. Its sequence is the time in milliseconds, and above `after` (the sequence of
/// the endorsement this node holds, if any): the highest per signer and subject wins.
pub fn sign_endorsement(
    key: &Keypair,
    subject: Did,
    weight: f64,
    reason: &str,
    after: Option<u64>,
) -> Result<Verified<Endorsement>, PublishAppError> {
    let e = Endorsement {
        kind: EndorseType,
        signer: key.did(),
        subject,
        weight,
        reason: reason.to_owned(),
        sequence: now_millis().max(after.map_or(0, |s| s.saturating_add(1))),
        created_at: crate::now_secs(),
    };
    Ok(Envelope::sign(&e, key)?.verify::<Endorsement>()?)
}

/// What [`publish_endorsement`] announced.
#[derive(Debug, Clone, Serialize)]
pub struct EndorsementPublished {
    /// The signer.
    pub signer: String,
    /// The subject.
    pub subject: String,
    /// The signed weight.
    pub weight: f64,
    /// Its sequence.
    pub sequence: u64,
    /// The endorsement's Nostr event id.
    pub event: String,
    /// The profile event announced first, if one was (it binds the key's Nostr key).
    pub profile_event: Option<String>,
    /// Relays that accepted the endorsement.
    pub relays: Vec<String>,
}

/// Announce `e` (signed by `key`) on every relay and ingest it here; first the key's
/// profile when `with_profile` (nodes take an endorsement only from a Nostr key the
/// signer's profile binds).
pub async fn publish_endorsement(
    d: &Discovery,
    key: &Keypair,
    key_name: &str,
    e: &Verified<Endorsement>,
    with_profile: bool,
) -> Result<EndorsementPublished, PublishAppError> {
    let profile_event = if with_profile {
        Some(publish_profile(d, key, key_name).await?.1)
    } else {
        None
    };
    let event = signed_here(d, &Object::Endorsement(e.clone()), &key.nostr_keys()?).await?;
    let id = event.id.to_hex();
    let relays = release::announce_signed(d, event).await?;
    Ok(EndorsementPublished {
        signer: e.signer.to_string(),
        subject: e.subject.to_string(),
        weight: e.weight,
        sequence: e.sequence,
        event: id,
        profile_event,
        relays,
    })
}

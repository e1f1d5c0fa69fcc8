//! `atoll key rotate`: make the next key of an identity current. The rotation
//! (`atoll/rotation/v1`) is signed by the key it reveals and carried by that key's Nostr
//! key under its own `d` tag per index; a new profile signed by the new key follows.
//!
//! `last` (what the retired key signed legitimately) comes from the publisher's own
//! records, never from a node's catalog: a thief holding the retired key can have put
//! anything there. The records are the bundles this home signed ([`last_signed`]:
//! `<home>/bundles/<app>/entry.json` holds the last entry signed per app), plus what the
//! caller names.

use std::path::Path;

use atoll_registry::bundle::ENTRY_FILE;
use atoll_registry::envelope::MAX_ENVELOPE_BYTES;
use atoll_registry::objects::{LastSigned, RotationType};
use atoll_registry::{Envelope, Keypair, Rotation, Verified};
use nostr_sdk::Event;
use serde::Serialize;

use super::{sign_event, PublishAppError};
use crate::codec::Object;

/// A signed rotation and its event, ready to announce.
#[derive(Debug, Clone)]
pub struct SignedRotation {
    /// The key now current (k_{n+1}).
    pub next: std::sync::Arc<Keypair>,
    /// The rotation.
    pub rotation: Verified<Rotation>,
    /// Its Nostr event, carried by the new key's Nostr key.
    pub event: Event,
}

/// What a rotation did, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct Rotated {
    /// The identity.
    pub did: String,
    /// The new index.
    pub index: u64,
    /// The new current key.
    pub key: String,
    /// The commitment to the key after it.
    pub next_key: String,
    /// What the retired key signed legitimately.
    pub last: LastSigned,
    /// The rotation's event id.
    pub rotation_event: String,
    /// The new profile's event id.
    pub profile_event: String,
    /// Relays that accepted the rotation.
    pub relays: Vec<String>,
}

/// What the bundles under `<home>/bundles` say `key`'s current key signed: per app, the
/// sequence of the last entry signed (entry.json is rewritten by every publish and yank).
pub fn last_signed(home: &Path, key: &Keypair) -> LastSigned {
    let mut last = LastSigned::default();
    let Ok(dirs) = std::fs::read_dir(home.join("bundles")) else {
        return last;
    };
    for dir in dirs.flatten() {
        let path = dir.path().join(ENTRY_FILE);
        let Ok(bytes) = atoll_registry::fsread::open_regular(&path, MAX_ENVELOPE_BYTES as u64)
            .and_then(|f| f.read_all())
        else {
            continue;
        };
        let Ok(entry) =
            Envelope::from_slice(&bytes).and_then(|e| e.verify_rotated::<atoll_registry::Entry>())
        else {
            tracing::warn!(path = %path.display(), "a bundle's entry does not verify; not counted");
            continue;
        };
        if entry.publisher == key.did() && *entry.signer() == key.key_did() {
            let seq = last.entries.entry(entry.app.clone()).or_insert(0);
            *seq = (*seq).max(entry.sequence);
        }
    }
    last
}

/// Sign rotation `key.index() + 1` of `key`'s identity, naming `last` as what the
/// current key signed legitimately, and its event dated `created_at`.
pub fn sign_rotation(
    key: &Keypair,
    last: LastSigned,
    created_at: u64,
) -> Result<SignedRotation, PublishAppError> {
    let next = key.next();
    let rotation = Rotation {
        kind: RotationType,
        did: next.did(),
        index: next.index(),
        key: next.key_did(),
        next_key: next.next_key_commitment(),
        last,
        created_at,
    };
    let verified = Envelope::sign(&rotation, &next)?.verify::<Rotation>()?;
    let event = sign_event(
        &Object::Rotation(verified.clone()),
        &next.nostr_keys()?,
        created_at,
    )?;
    Ok(SignedRotation {
        next: std::sync::Arc::new(next),
        rotation: verified,
        event,
    })
}

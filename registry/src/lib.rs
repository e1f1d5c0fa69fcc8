//! # atoll-registry
//!
//! The trust root of atoll: publisher identities (`did:key`, ed25519), the app manifest
//! schema and its rootless policy, canonical bytes (RFC 8785) and signed envelopes.
//! It depends on no other atoll crate.
//!
//! ```
//! use atoll_registry::{Keypair, Envelope, Verified, objects::PublisherProfile};
//!
//! let key = Keypair::from_seed([7; 32]);
//! let profile = PublisherProfile {
//!     kind: Default::default(),
//!     did: key.did(),
//!     name: "Example".into(),
//!     links: Default::default(),
//!     next_key: None,
//!     nostr_keys: vec![],
//!     iroh_nodes: vec![],
//!     relays: vec![],
//!     sequence: 1,
//!     updated_at: 1_700_000_000,
//! };
//! let envelope = Envelope::sign(&profile, &key).unwrap();
//! let verified: Verified<PublisherProfile> = envelope.verify().unwrap();
//! assert_eq!(verified.did, key.did());
//! ```
//!
//! Modules: [`did`] identities, [`keys`] key files, [`manifest`] schema + policy,
//! [`canonical`] RFC 8785, [`envelope`] signing and `Verified<T>`, [`objects`] the signed
//! payload types, [`bundle`] signed bundles on disk, [`names`] app ids and refs,
//! [`fsread`] bounded reads of files from outside the process, [`audit`] audit keys and
//! the bounds every store shares, [`relay_url`] the one rule for Nostr relay URLs, [`rotation`] key rotation rules.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod bundle;
pub mod canonical;
pub mod did;
pub mod envelope;
pub mod fsread;
pub mod hash;
pub mod keys;
pub mod manifest;
pub mod names;
pub mod objects;
pub mod relay_url;
pub mod rotation;

pub use did::{Did, DidError};
pub use envelope::{verify_batch, Envelope, EnvelopeError, Payload, Verified};
pub use hash::Hash;
pub use keys::{derive_separated_seed, Derivation, KeyError, KeyInfo, KeyStore, Keypair};
pub use manifest::{Manifest, ManifestError};
pub use names::{AppId, AppRef};
pub use objects::{Endorsement, Entry, PublisherProfile, Rotation};
pub use rotation::{key_commitment, KeyState};

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

//! A signed release as a publisher hands it to a node: the bundle directory (`entry.json`
//! and the blobs, each named by its BLAKE3 hash) and the two Nostr events the publisher
//! signed (the entry and its publisher profile). [`check_release`] verifies all of it
//! before anything is stored; [`store_release`] then puts the blobs in the node's store,
//! announces both events on every relay and runs them through the node's pipeline.
//!
//! The offline `atoll app publish` (node stopped) and `POST /api/v1/publish` (node
//! running) both end here, so they check, store and announce the same way.

use std::path::{Path, PathBuf};

use atoll_registry::bundle::{self, BundleError, ENTRY_FILE};
use atoll_registry::{Entry, Hash, PublisherProfile, Verified};
use nostr_sdk::{Event, PublicKey};

use super::{PublishAppError, Published};
use crate::codec::{self, Object};
use crate::node::Discovery;
use crate::pipeline::Ingested;
use crate::reject::Reason;

/// Which of the release's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The entry's event.
    Entry,
    /// The publisher profile's event.
    Profile,
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Entry => "entry event",
            Self::Profile => "profile event",
        })
    }
}

/// Why a release is refused (nothing of it is stored).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The bundle: the entry's signature or schema, the manifest blob, a blob's hash or size.
    #[error("bundle: {0}")]
    Bundle(Box<BundleError>),
    /// An event does not verify (Nostr signature, shape, envelope, DID signature).
    #[error("{which}: {reason}")]
    Event {
        /// Which event.
        which: Which,
        /// Why.
        reason: Reason,
    },
    /// An event carries another object than the one it should.
    #[error("{which}: {message}")]
    Mismatch {
        /// Which event.
        which: Which,
        /// What differs.
        message: String,
    },
    /// An event is signed by a Nostr key the publisher's profile does not list.
    #[error("{which}: signed by Nostr key {key}, which the profile of {did} does not list")]
    Unbound {
        /// Which event.
        which: Which,
        /// The event's key (hex).
        key: String,
        /// The publisher.
        did: String,
    },
    /// The entry's origin is not this node.
    #[error("the entry's origin is node {entry}, but this node is {this}: sign it for this node (GET /api/v1/node)")]
    Origin {
        /// The node the entry names (`(none)` when it names none).
        entry: String,
        /// This node.
        this: String,
    },
}

impl From<BundleError> for ReleaseError {
    fn from(e: BundleError) -> Self {
        Self::Bundle(Box::new(e))
    }
}

/// A release that passed [`check_release`].
#[derive(Debug)]
pub struct CheckedRelease {
    entry: Verified<Entry>,
    entry_event: Event,
    profile_event: Event,
    bundle: PathBuf,
    blobs: Vec<(Hash, PathBuf)>,
}

impl CheckedRelease {
    /// The verified entry.
    pub fn entry(&self) -> &Verified<Entry> {
        &self.entry
    }
}

fn decoded(which: Which, event: &Event) -> Result<(PublicKey, Object), ReleaseError> {
    let reason = |reason| ReleaseError::Event { which, reason };
    match codec::decode(event) {
        Ok(Some(d)) => Ok((d.pubkey, d.object)),
        Ok(None) => Err(ReleaseError::Mismatch {
            which,
            message: "not an atoll event (kind 30078 with t=atoll)".into(),
        }),
        Err(r) => Err(reason(r)),
    }
}

/// Verify a release for this node (`this_node`, hex) before storing any of it: the
/// bundle in `bundle_dir` (entry signature and schema, manifest blob parsed and checked
/// against the policy, every blob's hash and size), that the entry names this node as its
/// origin, that the profile event carries a profile of the entry's publisher and the
/// entry event exactly this entry, both signed by a Nostr key that profile lists.
/// Blocking (it reads and hashes the blobs).
pub fn check_release(
    this_node: &str,
    bundle_dir: &Path,
    entry_event: Event,
    profile_event: Event,
) -> Result<CheckedRelease, ReleaseError> {
    let verified = bundle::verify_bundle(&bundle_dir.join(ENTRY_FILE))?;
    let entry = verified.entry;
    let named = entry.origin.node_id.clone();
    if named.as_deref() != Some(this_node) {
        return Err(ReleaseError::Origin {
            entry: named.unwrap_or_else(|| "(none)".into()),
            this: this_node.to_owned(),
        });
    }
    let profile = match decoded(Which::Profile, &profile_event)? {
        (key, Object::Publisher(p)) => (key, p),
        (_, other) => {
            return Err(ReleaseError::Mismatch {
                which: Which::Profile,
                message: format!(
                    "carries a {}, not a publisher profile",
                    other.kind().as_str()
                ),
            })
        }
    };
    check_profile(&entry, &profile.1)?;
    bound(Which::Profile, &profile.0, &profile.1)?;
    match decoded(Which::Entry, &entry_event)? {
        (key, Object::Entry(e)) => {
            if e.envelope() != entry.envelope() {
                return Err(ReleaseError::Mismatch {
                    which: Which::Entry,
                    message: format!(
                        "carries another entry ({} {} sequence {}) than the bundle's entry.json ({} {} sequence {})",
                        e.app, e.version, e.sequence, entry.app, entry.version, entry.sequence
                    ),
                });
            }
            bound(Which::Entry, &key, &profile.1)?;
        }
        (_, other) => {
            return Err(ReleaseError::Mismatch {
                which: Which::Entry,
                message: format!("carries a {}, not an entry", other.kind().as_str()),
            })
        }
    }
    let mut blobs = vec![(
        entry.manifest.hash,
        bundle_dir.join(entry.manifest.hash.to_hex()),
    )];
    for a in &entry.artifacts {
        if !blobs.iter().any(|(h, _)| *h == a.blob.hash) {
            blobs.push((a.blob.hash, bundle_dir.join(a.blob.hash.to_hex())));
        }
    }
    Ok(CheckedRelease {
        entry,
        entry_event,
        profile_event,
        bundle: bundle_dir.to_owned(),
        blobs,
    })
}

fn check_profile(entry: &Entry, profile: &PublisherProfile) -> Result<(), ReleaseError> {
    if profile.did != entry.publisher {
        return Err(ReleaseError::Mismatch {
            which: Which::Profile,
            message: format!(
                "is the profile of {}, the entry's publisher is {}",
                profile.did, entry.publisher
            ),
        });
    }
    Ok(())
}

fn bound(which: Which, key: &PublicKey, profile: &PublisherProfile) -> Result<(), ReleaseError> {
    let hex = key.to_hex();
    if profile.nostr_keys.contains(&hex) {
        return Ok(());
    }
    Err(ReleaseError::Unbound {
        which,
        key: hex,
        did: profile.did.to_string(),
    })
}

/// Store a checked release: its blobs go into the node's store (tagged, so they are kept
/// and served as this node's own), the profile and the entry events run through the
/// node's pipeline, and only what it accepts is announced on every relay. When the
/// pipeline refuses the entry (e.g. a sequence below the one it holds), nothing of the
/// release stays: its tags are deleted and blobs the node did not hold before are
/// dropped.
pub async fn store_release(
    d: &Discovery,
    release: CheckedRelease,
) -> Result<Published, PublishAppError> {
    let mut blobs = Vec::new();
    let mut added: Vec<(Hash, Vec<u8>, bool)> = Vec::new();
    for (expected, path) in &release.blobs {
        let held = matches!(d.blobs().complete_size(expected).await, Ok(Some(_)));
        let (actual, tag) = d.blobs().add_path_tagged(path).await?;
        added.push((actual, tag, held));
        if actual != *expected {
            forget(d, &added).await;
            return Err(PublishAppError::HashMismatch {
                path: path.clone(),
                expected: *expected,
                actual,
            });
        }
        blobs.push(actual.to_hex());
    }
    let profile_event = release.profile_event.id.to_hex();
    let entry_event = release.entry_event.id.to_hex();
    for event in [&release.profile_event, &release.entry_event] {
        let refusal = match d.ingest_event(event.clone(), "local").await {
            Ingested::Rejected(reason) | Ingested::Held(reason) => PublishAppError::Refused(reason),
            Ingested::Deferred => PublishAppError::Deferred,
            Ingested::Ignored | Ingested::Duplicate | Ingested::Stored(_) => continue,
        };
        forget(d, &added).await;
        return Err(refusal);
    }
    announce(d, &release.profile_event).await?;
    let relays = announce(d, &release.entry_event).await?;
    let entry = release.entry;
    Ok(Published {
        app: entry.app_ref().to_string(),
        version: entry.version.to_string(),
        sequence: entry.sequence,
        yanked: entry.yanked.is_some(),
        entry_event,
        profile_event,
        relays,
        blobs,
        bundle: release.bundle,
        origin: d.node_id(),
    })
}

/// Undo [`store_release`]'s blob adds: delete their tags, drop the blobs that were new.
async fn forget(d: &Discovery, added: &[(Hash, Vec<u8>, bool)]) {
    for (hash, tag, _) in added {
        if let Err(e) = d.blobs().untag(tag).await {
            tracing::warn!(%hash, error = %e, "could not delete the tag of a refused release's blob");
        }
    }
    let new: Vec<Hash> = added
        .iter()
        .filter(|(_, _, held)| !held)
        .map(|(h, _, _)| *h)
        .collect();
    d.blobs().drop_blobs(&new).await;
}

/// Send an event the pipeline already accepted to every relay.
async fn announce(d: &Discovery, event: &Event) -> Result<Vec<String>, PublishAppError> {
    let report = d
        .relays()
        .publish(event)
        .await
        .map_err(crate::node::AnnounceError::from)?;
    Ok(report.accepted)
}

/// Run an event signed elsewhere through this node's pipeline, then send it to every
/// relay: what the pipeline refuses (or cannot store now) is never announced, as for a
/// release. Returns the relays that accepted it (for an event the node already held,
/// possibly none).
pub async fn announce_signed(d: &Discovery, event: Event) -> Result<Vec<String>, PublishAppError> {
    match d.ingest_event(event.clone(), "local").await {
        Ingested::Rejected(reason) | Ingested::Held(reason) => {
            Err(PublishAppError::Refused(reason))
        }
        Ingested::Deferred => Err(PublishAppError::Deferred),
        // Held already, so announced before: sent again for relays that missed it, and
        // no relay taking it (one holding a newer event at its address) is no failure.
        Ingested::Duplicate => Ok(match d.relays().publish(&event).await {
            Ok(report) => report.accepted,
            Err(e) => {
                tracing::debug!(error = %e, "no relay took a re-sent event the node holds");
                Vec::new()
            }
        }),
        Ingested::Ignored | Ingested::Stored(_) => announce(d, &event).await,
    }
}

//! Publishing: `atoll app publish` (sign, put the blobs in the node's store, announce the
//! publisher profile and the entry) and `atoll app yank`.
//!
//! The pieces are shared by the offline path (this process runs the node on the data
//! dir) and a publisher that signs locally and uploads to a running node: [`profile_for`],
//! [`sign_event`] and [`yank_in_bundle`] sign; [`release`] verifies, stores and announces.

pub mod endorse;
pub mod release;
pub mod rotate;

use std::path::{Path, PathBuf};

use atoll_registry::bundle::{self, BundleError, SignOptions, ENTRY_FILE};
use atoll_registry::envelope::MAX_ENVELOPE_BYTES;
use atoll_registry::fsread::FileError;
use atoll_registry::objects::{Origin, PublisherType, Yank};
use atoll_registry::{
    AppId, Entry, Envelope, EnvelopeError, Hash, KeyError, Keypair, PublisherProfile, Verified,
};
use serde::Serialize;

use crate::blobs::BlobNodeError;
use crate::codec::Object;
use crate::node::{AnnounceError, Discovery};
use crate::reject::Reason;
use nostr_sdk::{Event, Keys, Timestamp};

/// Settings of one publication.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Sequence; by default now in milliseconds (above any earlier one).
    pub sequence: Option<u64>,
    /// Seconds until the entry is stale; by default the registry's default (90 days).
    pub ttl_secs: Option<u64>,
    /// HTTPS bases that also serve the blobs.
    pub https: Vec<String>,
    /// Display name for the publisher profile; by default the key name.
    pub publisher_name: Option<String>,
    /// The relays the signed profile names as the publisher's outbox; by default
    /// ([`None`]) the relays this node writes to that another host can reach
    /// ([`default_outbox`]). `Some(vec![])` names none.
    pub outbox: Option<Vec<String>>,
}

/// What a publication did.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    /// `<did>/<app>`.
    pub app: String,
    /// Version.
    pub version: String,
    /// Sequence.
    pub sequence: u64,
    /// Yanked.
    pub yanked: bool,
    /// The entry's Nostr event id.
    pub entry_event: String,
    /// The profile's Nostr event id.
    pub profile_event: String,
    /// Relays that accepted the entry.
    pub relays: Vec<String>,
    /// Blobs in the local store, served by this node.
    pub blobs: Vec<String>,
    /// The bundle directory (entry.json + blobs).
    pub bundle: PathBuf,
    /// The iroh node the entry names as origin.
    pub origin: String,
}

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishAppError {
    /// Signing the app (manifest, blobs) failed.
    #[error(transparent)]
    Bundle(Box<BundleError>),
    /// The key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Signing an object failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Adding a blob to the store failed.
    #[error(transparent)]
    Blob(#[from] BlobNodeError),
    /// The store hashed a blob differently (never expected).
    #[error("the store hashed {path} to {actual}, the bundle names it {expected}")]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// Hash in the bundle.
        expected: Hash,
        /// Hash from the store.
        actual: Hash,
    },
    /// No earlier publication of the app to yank.
    #[error("app {app} was never published from this node (no {path})")]
    NotPublished {
        /// The app id.
        app: String,
        /// Where its entry was looked for.
        path: PathBuf,
    },
    /// The app belongs to another key.
    #[error("app {app} was published by {owner}, not by {key}")]
    NotOwner {
        /// The app id.
        app: String,
        /// Its publisher.
        owner: String,
        /// The key given.
        key: String,
    },
    /// Announcing failed.
    #[error(transparent)]
    Announce(#[from] AnnounceError),
    /// The node's own pipeline refused the object.
    #[error("the node's pipeline refused it: {0}")]
    Refused(Reason),
    /// The node's catalog could not store it now (storage, not input); nothing was
    /// announced, so publishing again later is safe.
    #[error("the node's catalog could not store it now (nothing was announced); try again")]
    Deferred,
    /// The release does not verify (never expected for one this node signed).
    #[error(transparent)]
    Release(#[from] release::ReleaseError),
    /// A blocking task failed.
    #[error("a publishing task failed: {0}")]
    Task(String),
}

impl From<BundleError> for PublishAppError {
    fn from(e: BundleError) -> Self {
        Self::Bundle(Box::new(e))
    }
}

fn now_millis() -> u64 {
    crate::now_millis()
}

/// The bundle directory of an app under the data dir.
pub fn bundle_dir(data_dir: &Path, app: &str) -> PathBuf {
    data_dir.join("bundles").join(app)
}

/// The relays a profile names by default: those this node writes to that another host
/// can reach (not loopback, `localhost` or an unspecified address), at most
/// [`atoll_registry::relay_url::MAX_PROFILE_RELAYS`].
pub fn default_outbox(d: &Discovery) -> Vec<String> {
    outbox_of(
        d.relays()
            .relays()
            .into_iter()
            .filter(|(_, source)| source.writes())
            .map(|(url, _)| url),
    )
}

/// The relays of `urls` a profile can name as an outbox (reachable from other hosts,
/// valid, each once), at most [`atoll_registry::relay_url::MAX_PROFILE_RELAYS`].
pub fn outbox_of(urls: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for url in urls {
        if !atoll_registry::relay_url::is_local_relay(&url)
            && atoll_registry::relay_url::check_relay_url(&url).is_ok()
            && !out.contains(&url)
        {
            out.push(url);
        }
    }
    out.truncate(atoll_registry::relay_url::MAX_PROFILE_RELAYS);
    out
}

/// The publisher profile of `key`: it binds the key's Nostr key and the iroh node
/// `iroh_node` (hex) to the DID, and commits to the identity's next key.
///
/// `relays` is the publisher's outbox (NIP-65 style: the relays it writes to). A list that
/// breaks the profile's rules (more than 8, not `ws://`/`wss://`, repeated) is refused
/// before anything is signed.
pub fn profile_for(
    key: &Keypair,
    name: &str,
    iroh_node: String,
    relays: Vec<String>,
) -> Result<Verified<PublisherProfile>, PublishAppError> {
    let nostr = key.nostr_keys()?;
    let profile = PublisherProfile {
        kind: PublisherType,
        did: key.did(),
        name: name.chars().take(64).collect(),
        links: Default::default(),
        next_key: Some(key.next_key_commitment()),
        nostr_keys: vec![nostr.public_key().to_hex()],
        iroh_nodes: vec![iroh_node],
        relays,
        sequence: now_millis(),
        updated_at: crate::now_secs(),
    };
    Ok(Envelope::sign(&profile, key)?.verify_rotated::<PublisherProfile>()?)
}

/// The Nostr event of `object`, signed with `keys`, dated `created_at`.
pub fn sign_event(object: &Object, keys: &Keys, created_at: u64) -> Result<Event, PublishAppError> {
    crate::codec::encode(object, keys, Some(Timestamp::from(created_at)))
        .map_err(|e| PublishAppError::Announce(AnnounceError::Encode(e)))
}

/// Sign `object`'s event dated after any earlier one of this node at its address.
async fn signed_here(
    d: &Discovery,
    object: &Object,
    keys: &Keys,
) -> Result<Event, PublishAppError> {
    let at = d
        .relays()
        .next_created_at(&keys.public_key(), &object.d_tag().to_string())
        .await;
    sign_event(object, keys, at.as_secs())
}

/// Sign and announce the publisher profile of `key` (binding its Nostr key and this
/// node's iroh id to the DID), naming the [`default_outbox`] relays.
pub async fn publish_profile(
    d: &Discovery,
    key: &Keypair,
    name: &str,
) -> Result<(Verified<PublisherProfile>, String), PublishAppError> {
    publish_profile_with(d, key, name, None).await
}

/// [`publish_profile`] naming `outbox` as the publisher's relays (`None`: the
/// [`default_outbox`]).
pub async fn publish_profile_with(
    d: &Discovery,
    key: &Keypair,
    name: &str,
    outbox: Option<&[String]>,
) -> Result<(Verified<PublisherProfile>, String), PublishAppError> {
    let relays = match outbox {
        Some(list) => list.to_vec(),
        None => default_outbox(d),
    };
    let verified = profile_for(key, name, d.node_id(), relays)?;
    let event = signed_here(d, &Object::Publisher(verified.clone()), &key.nostr_keys()?).await;
    let event = event?;
    let id = event.id.to_hex();
    release::announce_signed(d, event).await?;
    Ok((verified, id))
}

/// Sign the app in `app_dir`, add its blobs to this node's store, and announce the
/// publisher profile and the entry on every relay.
pub async fn publish_app(
    d: &Discovery,
    data_dir: &Path,
    app_dir: &Path,
    key: &Keypair,
    key_name: &str,
    opts: &PublishOptions,
) -> Result<Published, PublishAppError> {
    let (manifest, _) = atoll_registry::manifest::load(app_dir).map_err(BundleError::from)?;
    let out = bundle_dir(data_dir, &manifest.id);
    let origin = Origin {
        node_id: Some(d.node_id()),
        addrs: d.blobs().addrs().iter().map(|a| a.to_string()).collect(),
        https: opts.https.clone(),
        relays: d.blobs().relay_urls(),
    };
    let signed = bundle::sign_app(
        app_dir,
        key,
        &out,
        &SignOptions {
            sequence: opts.sequence,
            published_at: None,
            ttl_secs: opts.ttl_secs,
            origin,
        },
    )?;
    let name = opts.publisher_name.as_deref().unwrap_or(key_name);
    let nostr = key.nostr_keys()?;
    let outbox = match &opts.outbox {
        Some(list) => list.clone(),
        None => default_outbox(d),
    };
    let profile = profile_for(key, name, d.node_id(), outbox)?;
    let profile_event = signed_here(d, &Object::Publisher(profile), &nostr).await?;
    let entry_event = signed_here(d, &Object::Entry(signed.entry), &nostr).await?;
    // The same checks a release uploaded by a publisher gets, then the same store.
    let node = d.node_id();
    let dir = out.clone();
    let checked = tokio::task::spawn_blocking(move || {
        release::check_release(&node, &dir, entry_event, profile_event)
    })
    .await
    .map_err(|e| PublishAppError::Task(e.to_string()))??;
    release::store_release(d, checked).await
}

/// Re-sign the last entry in the bundle dir of `app` under `data_dir` with `yanked` set
/// and a higher sequence, and write it over `entry.json`. The entry is dated after the
/// previous one, so relays keep the yank.
pub fn yank_in_bundle(
    data_dir: &Path,
    app: &AppId,
    key: &Keypair,
    reason: &str,
) -> Result<Verified<Entry>, PublishAppError> {
    let out = bundle_dir(data_dir, app.as_str());
    let path = out.join(ENTRY_FILE);
    let bytes = atoll_registry::fsread::open_regular(&path, MAX_ENVELOPE_BYTES as u64)
        .and_then(|f| f.read_all())
        .map_err(|error| match error {
            FileError::Missing { .. } => PublishAppError::NotPublished {
                app: app.to_string(),
                path: path.clone(),
            },
            error => PublishAppError::from(BundleError::File {
                what: atoll_registry::bundle::Part::Entry,
                error,
            }),
        })?;
    let previous = Envelope::from_slice(&bytes)?.verify_rotated::<Entry>()?;
    if previous.publisher != key.did() {
        return Err(PublishAppError::NotOwner {
            app: app.to_string(),
            owner: previous.publisher.to_string(),
            key: key.did().to_string(),
        });
    }
    let mut entry: Entry = previous.payload().clone();
    entry.sequence = now_millis().max(previous.sequence.saturating_add(1));
    entry.published_at = crate::now_secs().max(entry.published_at.saturating_add(1));
    entry.expires_at = entry.expires_at.max(entry.published_at + 1);
    entry.yanked = Some(Yank {
        reason: reason.chars().take(1024).collect(),
    });
    let envelope = Envelope::sign(&entry, key)?;
    let verified = envelope.verify_rotated::<Entry>()?;
    let mut body = envelope.to_canonical_bytes()?;
    body.push(b'\n');
    // Written beside and renamed over: a link at `path` is replaced, never written through.
    let tmp = out.join(format!(".{ENTRY_FILE}.yank"));
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &body))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| {
            PublishAppError::from(BundleError::Io {
                action: "writing",
                path: path.clone(),
                source,
            })
        })?;
    Ok(verified)
}

/// Withdraw the app's current version: re-sign its last entry with `yanked` set and a
/// higher sequence, and announce it.
pub async fn yank_app(
    d: &Discovery,
    data_dir: &Path,
    app: &AppId,
    key: &Keypair,
    key_name: &str,
    reason: &str,
) -> Result<Published, PublishAppError> {
    let entry = yank_in_bundle(data_dir, app, key, reason)?;
    let (_, profile_event) = publish_profile(d, key, key_name).await?;
    let event = signed_here(d, &Object::Entry(entry.clone()), &key.nostr_keys()?).await?;
    let entry_event = event.id.to_hex();
    let relays = release::announce_signed(d, event).await?;
    Ok(Published {
        app: entry.app_ref().to_string(),
        version: entry.version.to_string(),
        sequence: entry.sequence,
        yanked: true,
        entry_event,
        profile_event,
        relays,
        blobs: Vec::new(),
        bundle: bundle_dir(data_dir, app.as_str()),
        origin: d.node_id(),
    })
}

//! What the sync pipeline needs from the catalog, as a narrow async trait.
//!
//! The node implements it over the SQLite catalog service (`src/node/catalog_port.rs` in
//! the `atoll` binary): this crate does not depend on the catalog. Every method returns a
//! boxed future, so that an implementation runs its storage work off the async worker
//! threads; every answer is typed.

use std::future::Future;
use std::pin::Pin;

use atoll_registry::rotation::RotationRefusal;
use atoll_registry::{Entry, Hash, Manifest, Rotation, Verified};

pub use atoll_registry::audit::MAX_CURSOR_SKEW_SECS;

use crate::codec::Object;
use crate::reject::{Reason, Rejection};

/// What a [`CatalogPort`] method returns.
pub type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send + 'a>>;

/// What [`CatalogPort::ingest_entries`] returns: one answer per entry.
pub type BatchFuture<'a> =
    Pin<Box<dyn Future<Output = Vec<Result<EntryVerdict, PortError>>> + Send + 'a>>;

/// Where a signed object came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// Carried by a relay (by URL), in an event signed by some Nostr key.
    Relay(String),
    /// Carried by a relay in an event signed by a Nostr key that the publisher's own
    /// signed profile binds: the publisher published it itself.
    Origin {
        /// Relay URL.
        relay: String,
        /// The origin the entry names (its iroh node, else its first HTTPS base), if any.
        origin: Option<OriginName>,
    },
}

/// The origin an entry names in its signed `origin`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OriginName {
    /// Its iroh node, by id (hex).
    Node(String),
    /// An HTTPS base URL.
    Https(String),
}

impl Source {
    /// The relay URL.
    pub fn relay(&self) -> &str {
        match self {
            Self::Relay(r) => r,
            Self::Origin { relay, .. } => relay,
        }
    }
}

/// What the catalog decided about another signed object (profile, endorsement, list,
/// mirror announcement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectVerdict {
    /// New to the catalog (or newer than what it held): stored.
    Stored,
    /// Already held, or a type the catalog does not keep: nothing changed.
    Known,
    /// Refused, with why; the catalog recorded it in its audit log already.
    Refused(Reason),
}

/// What the catalog decided about an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryVerdict {
    /// It is the app's head now: fetch its blobs.
    Head,
    /// It is the head but past expiry: shown as stale, blobs not fetched.
    StaleHead,
    /// It is the head and withdraws its version: nothing to fetch.
    YankedHead,
    /// Already known (same signed bytes, or bytes refused before for their blobs).
    Duplicate,
    /// Refused by the rules (rollback, equivocation that lost). The catalog recorded it.
    Refused(Reason),
    /// Equivocation, and this copy won (it came from the origin): fetch its blobs.
    EquivocationWon,
}

/// What the catalog decided about a key rotation.
#[derive(Debug, Clone)]
pub enum RotationVerdict {
    /// Accepted: its key is the identity's current key now.
    Accepted {
        /// Payload ids of the entries it voided (their blob jobs are dropped).
        voided: Vec<Hash>,
        /// Entries that are an app's head again (their blobs are fetched if needed).
        new_heads: Vec<Verified<Entry>>,
    },
    /// The same rotation again.
    Duplicate,
    /// Refused, and recorded by the catalog. A gap is tried again when the missing
    /// rotation arrives.
    Refused(RotationRefusal),
}

/// What [`CatalogPort::refuse_entry`] did.
#[derive(Debug, Clone, Default)]
pub struct EntryRefusal {
    /// The refusal was recorded now (false: these bytes had been refused before).
    pub recorded: bool,
    /// The app's head now, when the refused entry was the head and an earlier entry of the
    /// app remains: its blobs are fetched (again) if needed.
    pub new_head: Option<Verified<Entry>>,
    /// Blobs no remaining entry names: the node drops their bytes.
    pub orphaned: Vec<Hash>,
}

/// A catalog operation failed (storage, not input).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The store failed (I/O, SQLite, a constraint).
    #[error("catalog: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The catalog is shut down (the node is stopping).
    #[error("the catalog is stopped")]
    Stopped,
}

/// What the pipeline asks of the catalog.
pub trait CatalogPort: Send + Sync + 'static {
    /// Apply the origin-wins rules to a verified entry.
    fn ingest_entry<'a>(
        &'a self,
        entry: &'a Verified<Entry>,
        source: &'a Source,
    ) -> PortFuture<'a, EntryVerdict>;

    /// Apply the rules to many entries, in order (later ones see the earlier ones), one
    /// answer per entry. Implementations may use one transaction.
    fn ingest_entries<'a>(&'a self, batch: &'a [(Verified<Entry>, Source)]) -> BatchFuture<'a> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(batch.len());
            for (e, s) in batch {
                out.push(self.ingest_entry(e, s).await);
            }
            out
        })
    }

    /// Store another verified object (profile, endorsement, list, mirror announcement).
    /// Implementations may ignore types they do not keep ([`ObjectVerdict::Known`]).
    fn ingest_object<'a>(
        &'a self,
        object: &'a Object,
        source: &'a Source,
    ) -> PortFuture<'a, ObjectVerdict>;

    /// Accept or refuse a verified key rotation (voiding what the retired key signed
    /// beyond the rotation's `last`).
    fn ingest_rotation<'a>(
        &'a self,
        rotation: &'a Verified<Rotation>,
        source: &'a Source,
    ) -> PortFuture<'a, RotationVerdict>;

    /// A manifest blob was fetched, verified and passed the policy.
    fn attach_manifest<'a>(&'a self, manifest: &'a Manifest) -> PortFuture<'a, ()>;

    /// Every blob of the entry is held locally, verified: the entry is installable.
    fn entry_ready<'a>(&'a self, entry: &'a Verified<Entry>) -> PortFuture<'a, ()>;

    /// Record a rejection in the audit log, once per [`Rejection::key`]. Returns whether it
    /// was recorded now (false: the same input was recorded before).
    fn record_rejection<'a>(&'a self, rejection: &'a Rejection) -> PortFuture<'a, bool>;

    /// An entry the catalog took was refused for its blobs (manifest policy or mismatch,
    /// size): remove it and what only it brought in, restore the app's previous head,
    /// record the refusal once, and answer [`EntryVerdict::Duplicate`] for these signed
    /// bytes from then on.
    fn refuse_entry<'a>(
        &'a self,
        entry: &'a Verified<Entry>,
        rejection: &'a Rejection,
    ) -> PortFuture<'a, EntryRefusal>;

    /// The `since` cursor of a relay (unix seconds), if any.
    fn cursor<'a>(&'a self, relay: &'a str) -> PortFuture<'a, Option<u64>>;

    /// Move a relay's cursor forward (never back, never beyond now +
    /// [`MAX_CURSOR_SKEW_SECS`]).
    fn set_cursor<'a>(&'a self, relay: &'a str, since: u64) -> PortFuture<'a, ()>;

    /// A relay's cursor ahead of now + [`MAX_CURSOR_SKEW_SECS`] is reset to 0 (a full
    /// catch-up) and the reset recorded. Returns the bad value, if it was reset.
    fn heal_cursor<'a>(&'a self, relay: &'a str) -> PortFuture<'a, Option<u64>>;
}

//! What the sync pipeline needs from the catalog, as a narrow trait.
//!
//! The node implements it over the SQLite catalog (`atoll-catalog`, see
//! [`crate::catalog_port`]); [`MemoryCatalog`] is a small in-memory implementation of the
//! same origin-wins rules for benchmarks and for nodes that keep no catalog.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use atoll_registry::{Entry, Hash, Manifest, Verified};

pub use atoll_catalog::sync::MAX_CURSOR_SKEW_SECS;

use crate::codec::Object;
use crate::reject::{Reason, Rejection};

/// Where a signed object came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// Carried by a relay, in an event signed by some Nostr key.
    Relay(String),
    /// Carried by a relay in an event signed by a Nostr key that the publisher's own
    /// signed profile binds: the publisher published it itself. Holds the relay URL and
    /// the origin node id the entry names (empty if none).
    Origin {
        /// Relay URL.
        relay: String,
        /// The entry's origin node id (hex), or an HTTPS base.
        origin: String,
    },
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

/// What the catalog decided about an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryVerdict {
    /// It is the app's head now: fetch its blobs.
    Head,
    /// It is the head but past expiry: shown as stale, blobs not fetched.
    StaleHead,
    /// It is the head and withdraws its version: nothing to fetch.
    YankedHead,
    /// Already known (same signed bytes).
    Duplicate,
    /// Refused by the rules (rollback, equivocation that lost). The catalog recorded it.
    Refused(Reason),
    /// Equivocation, and this copy won (it came from the origin): fetch its blobs.
    EquivocationWon,
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
#[error("catalog: {0}")]
pub struct PortError(pub String);

/// What the pipeline asks of the catalog. All methods are quick, blocking calls.
pub trait CatalogPort: Send + Sync + 'static {
    /// Apply the origin-wins rules to a verified entry.
    fn ingest_entry(
        &self,
        entry: &Verified<Entry>,
        source: &Source,
    ) -> Result<EntryVerdict, PortError>;

    /// Apply the rules to many entries, in order (later ones see the earlier ones).
    /// Implementations may use one transaction; the default calls [`Self::ingest_entry`].
    fn ingest_entries(
        &self,
        batch: &[(Verified<Entry>, Source)],
    ) -> Vec<Result<EntryVerdict, PortError>> {
        batch.iter().map(|(e, s)| self.ingest_entry(e, s)).collect()
    }

    /// Store another verified object (profile, endorsement, list). Returns whether it was
    /// new. Implementations may ignore types they do not keep.
    fn ingest_object(&self, object: &Object, source: &Source) -> Result<bool, PortError>;

    /// A manifest blob was fetched, verified and passed the policy.
    fn attach_manifest(&self, manifest: &Manifest) -> Result<(), PortError>;

    /// Every blob of the entry is held locally, verified: the entry is installable.
    fn entry_ready(&self, entry: &Verified<Entry>) -> Result<(), PortError>;

    /// Record a rejection in the audit log, once per [`Rejection::key`]. Returns whether it
    /// was recorded now (false: the same input was recorded before).
    fn record_rejection(&self, rejection: &Rejection) -> Result<bool, PortError>;

    /// An entry the catalog took was refused for its blobs (manifest policy or mismatch,
    /// size): remove it and what only it brought in, restore the app's previous head,
    /// record the refusal once, and answer [`EntryVerdict::Duplicate`] for these signed
    /// bytes from then on.
    fn refuse_entry(
        &self,
        entry: &Verified<Entry>,
        rejection: &Rejection,
    ) -> Result<EntryRefusal, PortError>;

    /// The `since` cursor of a relay (unix seconds), if any.
    fn cursor(&self, relay: &str) -> Result<Option<u64>, PortError>;

    /// Move a relay's cursor forward (never back, never beyond now +
    /// [`MAX_CURSOR_SKEW_SECS`]).
    fn set_cursor(&self, relay: &str, since: u64) -> Result<(), PortError>;

    /// A relay's cursor ahead of now + [`MAX_CURSOR_SKEW_SECS`] is reset to 0 (a full
    /// catch-up) and the reset recorded. Returns the bad value, if it was reset.
    fn heal_cursor(&self, relay: &str) -> Result<Option<u64>, PortError>;
}

/// Rejections a [`MemoryCatalog`] keeps (the oldest go first).
const MEMORY_REJECTIONS: usize = 10_000;

/// The head of one app in a [`MemoryCatalog`].
#[derive(Debug, Clone)]
pub struct MemoryHead {
    /// The winning entry.
    pub entry: Verified<Entry>,
    /// Came from the origin.
    pub from_origin: bool,
    /// Blobs fetched and verified.
    pub ready: bool,
}

#[derive(Debug, Default)]
struct MemoryState {
    heads: BTreeMap<String, MemoryHead>,
    seen: HashMap<Hash, u64>,
    objects: HashMap<Hash, ()>,
    manifests: HashMap<Hash, Manifest>,
    rejections: Vec<Rejection>,
    /// Keys of the recorded rejections, and the payload ids of refused entries.
    rejected: std::collections::HashSet<Hash>,
    cursors: HashMap<String, u64>,
}

/// An in-memory catalog with the origin-wins rules (highest sequence wins, rollbacks and
/// equivocations refused, the origin's copy kept on equivocation).
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    state: Mutex<MemoryState>,
}

impl MemoryCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// The heads, by `<did>/<app>`.
    pub fn heads(&self) -> BTreeMap<String, MemoryHead> {
        self.lock().map(|s| s.heads.clone()).unwrap_or_default()
    }

    /// Every rejection recorded.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.lock()
            .map(|s| s.rejections.clone())
            .unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemoryState>, PortError> {
        self.state
            .lock()
            .map_err(|_| PortError("memory catalog lock poisoned".into()))
    }
}

impl CatalogPort for MemoryCatalog {
    fn ingest_entry(
        &self,
        entry: &Verified<Entry>,
        source: &Source,
    ) -> Result<EntryVerdict, PortError> {
        let mut s = self.lock()?;
        let id = entry.payload_id();
        if s.seen.contains_key(&id) || s.rejected.contains(&id) {
            return Ok(EntryVerdict::Duplicate);
        }
        let key = entry.app_ref().to_string();
        let from_origin = matches!(source, Source::Origin { .. });
        let now = crate::now_secs();
        let verdict = match s.heads.get(&key) {
            Some(head) if entry.sequence < head.entry.sequence => {
                EntryVerdict::Refused(Reason::Rollback {
                    stored: head.entry.sequence,
                    got: entry.sequence,
                })
            }
            Some(head) if entry.sequence == head.entry.sequence => {
                if from_origin && !head.from_origin {
                    EntryVerdict::EquivocationWon
                } else {
                    EntryVerdict::Refused(Reason::Equivocation {
                        sequence: entry.sequence,
                    })
                }
            }
            _ if entry.yanked.is_some() => EntryVerdict::YankedHead,
            _ if entry.is_expired(now) => EntryVerdict::StaleHead,
            _ => EntryVerdict::Head,
        };
        s.seen.insert(id, entry.sequence);
        if !matches!(verdict, EntryVerdict::Refused(_)) {
            s.heads.insert(
                key,
                MemoryHead {
                    entry: entry.clone(),
                    from_origin,
                    ready: false,
                },
            );
        }
        Ok(verdict)
    }

    fn ingest_object(&self, object: &Object, _source: &Source) -> Result<bool, PortError> {
        let id = Hash::of(
            &object
                .envelope()
                .to_canonical_bytes()
                .map_err(|e| PortError(e.to_string()))?,
        );
        Ok(self.lock()?.objects.insert(id, ()).is_none())
    }

    fn attach_manifest(&self, manifest: &Manifest) -> Result<(), PortError> {
        let hash = manifest.hash().map_err(|e| PortError(e.to_string()))?;
        self.lock()?.manifests.insert(hash, manifest.clone());
        Ok(())
    }

    fn entry_ready(&self, entry: &Verified<Entry>) -> Result<(), PortError> {
        let mut s = self.lock()?;
        if let Some(head) = s.heads.get_mut(&entry.app_ref().to_string()) {
            if head.entry.payload_id() == entry.payload_id() {
                head.ready = true;
            }
        }
        Ok(())
    }

    fn record_rejection(&self, rejection: &Rejection) -> Result<bool, PortError> {
        let mut s = self.lock()?;
        if let Some(key) = rejection.key {
            if !s.rejected.insert(key) {
                return Ok(false);
            }
        }
        if s.rejections.len() >= MEMORY_REJECTIONS {
            s.rejections.remove(0);
        }
        s.rejections.push(rejection.clone());
        Ok(true)
    }

    fn refuse_entry(
        &self,
        entry: &Verified<Entry>,
        rejection: &Rejection,
    ) -> Result<EntryRefusal, PortError> {
        let recorded = self.record_rejection(rejection)?;
        let mut s = self.lock()?;
        let id = entry.payload_id();
        s.seen.remove(&id);
        s.rejected.insert(id);
        let key = entry.app_ref().to_string();
        if s.heads
            .get(&key)
            .is_some_and(|h| h.entry.payload_id() == id)
        {
            // No history is kept here: the app goes until a new entry comes.
            s.heads.remove(&key);
        }
        Ok(EntryRefusal {
            recorded,
            ..EntryRefusal::default()
        })
    }

    fn cursor(&self, relay: &str) -> Result<Option<u64>, PortError> {
        Ok(self.lock()?.cursors.get(relay).copied())
    }

    fn set_cursor(&self, relay: &str, since: u64) -> Result<(), PortError> {
        let since = since.min(crate::now_secs().saturating_add(MAX_CURSOR_SKEW_SECS));
        let mut s = self.lock()?;
        let c = s.cursors.entry(relay.to_owned()).or_insert(since);
        *c = (*c).max(since);
        Ok(())
    }

    fn heal_cursor(&self, relay: &str) -> Result<Option<u64>, PortError> {
        let limit = crate::now_secs().saturating_add(MAX_CURSOR_SKEW_SECS);
        let mut s = self.lock()?;
        match s.cursors.get(relay).copied() {
            Some(c) if c > limit => {
                s.cursors.insert(relay.to_owned(), 0);
                Ok(Some(c))
            }
            _ => Ok(None),
        }
    }
}

//! Why input was rejected: one reason per pipeline stage, each with a stable code, and the
//! counters every node keeps (`atoll sync status` shows them).

mod detail;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use atoll_registry::audit::{MAX_REASON_CHARS, MAX_SOURCE_CHARS};
use atoll_registry::rotation::{RotationRefusal, SignerRefusal};
use atoll_registry::{EnvelopeError, ManifestError};
use serde::Serialize;

use crate::blobs::SourceKind;

pub use detail::{
    BlobSizeProblem, DTagProblem, Malformed, ManifestMismatch, ManifestRefusal, NamespaceMismatch,
    SharedError,
};

/// Why an event, a signed object or a blob was refused.
///
/// Every reason has a stable [`Reason::code`] that is recorded in the audit log and counted,
/// and an [`AuditCategory`] ([`Reason::category`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The event (or its content) is larger than the limit.
    #[error("event is {size} bytes, more than the limit of {max}")]
    Oversized {
        /// Size found.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The Nostr event id or BIP-340 signature does not verify.
    #[error("Nostr event id or signature does not verify")]
    NostrSignature,
    /// Not an atoll event of a known shape (missing or bad `d` tag, content not an envelope).
    #[error("malformed event: {0}")]
    Malformed(#[source] Malformed),
    /// The `d` tag names another type, DID or app than the signed payload.
    #[error("namespace mismatch: {0}")]
    Namespace(#[source] NamespaceMismatch),
    /// The envelope does not verify for a reason other than its signature (schema, type,
    /// normal form, semantic checks).
    #[error("invalid envelope: {0}")]
    Envelope(#[source] SharedError<EnvelopeError>),
    /// The DID (or node) signature inside the content does not verify.
    #[error("bad DID signature: {0}")]
    DidSignature(#[source] SharedError<EnvelopeError>),
    /// A lower sequence than the one stored: a rollback or replay.
    #[error("rollback: sequence {got} is below the stored {stored}")]
    Rollback {
        /// Sequence stored.
        stored: u64,
        /// Sequence received.
        got: u64,
    },
    /// Two different entries with the same sequence.
    #[error("equivocation: two different entries with sequence {sequence}")]
    Equivocation {
        /// The sequence both claim.
        sequence: u64,
    },
    /// The entry is past its `expires_at` (kept as stale, not fetched or auto-installed).
    #[error("entry expired at {expires_at} (now {now})")]
    Expired {
        /// Expiry of the entry.
        expires_at: u64,
        /// Time of the check.
        now: u64,
    },
    /// A source sent bytes that do not match the blob's BLAKE3 hash.
    #[error("blob {hash} from {from}: bytes do not match the hash ({detail})")]
    BlobCorrupt {
        /// The blob.
        hash: String,
        /// Who sent it.
        from: RejectionSource,
        /// What the verifier (iroh-blobs, or the HTTPS client's hash check) said.
        detail: String,
    },
    /// A blob is larger than the signed entry allows, or its size differs.
    #[error("blob {hash}: {problem}")]
    BlobSize {
        /// The blob.
        hash: String,
        /// What is wrong.
        problem: BlobSizeProblem,
    },
    /// The manifest blob fails the schema or the rootless policy.
    #[error("manifest refused by policy: {0}")]
    ManifestPolicy(#[source] ManifestRefusal),
    /// The manifest and the entry disagree (app id, version, artifacts).
    #[error("manifest does not match its entry: {0}")]
    ManifestMismatch(#[source] ManifestMismatch),
    /// A key rotation refused by the identity's key state (commitment mismatch, gap,
    /// fork, reused key).
    #[error("key rotation refused: {0}")]
    Rotation(#[source] RotationRefusal),
    /// Signed by a key the identity's key state does not allow (a retired key after its
    /// last legitimate sequence, a key that is not the identity's), or a profile that
    /// changes the key commitment outside a rotation.
    #[error("signing key refused: {0}")]
    SigningKey(#[source] SigningKeyProblem),
    /// An endorsement of a new subject from a signer that already has the most subjects
    /// one signer may have stored.
    #[error("the signer already has {max} endorsed or reported subjects stored, the most one signer may have")]
    SignerLimit {
        /// The cap.
        max: u32,
    },
}

/// Why a signing key was refused ([`Reason::SigningKey`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyProblem {
    /// The key state refuses the signer.
    #[error(transparent)]
    Signer(SignerRefusal),
    /// A profile tried to change the commitment to the next key.
    #[error("the commitment to the next key can only change through a rotation")]
    Commitment,
    /// The identity's key state refused the signer (a retired key past its last
    /// legitimate sequence, or a key that is not the identity's); the audit log names it.
    #[error("the identity's key state does not allow this signer (the audit log has the detail)")]
    KeyState,
}

/// What kind of audit record a [`Reason`] makes (the catalog maps it to its own kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditCategory {
    /// A signature that does not verify.
    BadSignature,
    /// Blob bytes that do not match (hash or size).
    BlobMismatch,
    /// A lower sequence than the stored head.
    Rollback,
    /// An entry refused for its manifest.
    RefusedEntry,
    /// Two different entries with one sequence.
    Equivocation,
    /// Malformed, oversized, out-of-namespace or expired input.
    Invalid,
}

impl Reason {
    /// Stable short code, used as the counter key and in the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Oversized { .. } => "oversized",
            Self::NostrSignature => "nostr-signature",
            Self::Malformed(_) => "malformed",
            Self::Namespace(_) => "namespace",
            Self::Envelope(_) => "envelope",
            Self::DidSignature(_) => "did-signature",
            Self::Rollback { .. } => "rollback",
            Self::Equivocation { .. } => "equivocation",
            Self::Expired { .. } => "expired",
            Self::BlobCorrupt { .. } => "blob-corrupt",
            Self::BlobSize { .. } => "blob-size",
            Self::ManifestPolicy(_) => "manifest-policy",
            Self::ManifestMismatch(_) => "manifest-mismatch",
            Self::Rotation(r) => r.code(),
            Self::SigningKey(_) => "signing-key",
            Self::SignerLimit { .. } => "signer-limit",
        }
    }

    /// Is this refusal of a correctly signed entry provably its signer's doing? True for a
    /// manifest that fails the policy or disagrees with the entry: the entry signs the
    /// manifest's BLAKE3 hash, so the bytes checked are exactly the ones the DID signed,
    /// whoever served them. False for everything else, above all a bad signature (anyone
    /// can claim a DID) and blob bytes that do not match (the source lied, not the signer).
    pub fn provable_by_signer(&self) -> bool {
        matches!(self, Self::ManifestPolicy(_) | Self::ManifestMismatch(_))
    }

    /// The kind of audit record it makes.
    pub fn category(&self) -> AuditCategory {
        match self {
            Self::NostrSignature | Self::DidSignature(_) => AuditCategory::BadSignature,
            Self::BlobCorrupt { .. } | Self::BlobSize { .. } => AuditCategory::BlobMismatch,
            Self::Rollback { .. } => AuditCategory::Rollback,
            Self::ManifestPolicy(_) | Self::ManifestMismatch(_) => AuditCategory::RefusedEntry,
            Self::Equivocation { .. } => AuditCategory::Equivocation,
            Self::Oversized { .. }
            | Self::Malformed(_)
            | Self::Namespace(_)
            | Self::Envelope(_)
            | Self::Expired { .. }
            | Self::Rotation(_)
            | Self::SigningKey(_)
            | Self::SignerLimit { .. } => AuditCategory::Invalid,
        }
    }

    /// The source this reason blames (a blob source that sent bad bytes), if any.
    pub fn blamed(&self) -> Option<&RejectionSource> {
        match self {
            Self::BlobCorrupt { from, .. }
            | Self::BlobSize {
                problem: BlobSizeProblem::SourceSentMore { from, .. },
                ..
            } => Some(from),
            _ => None,
        }
    }

    /// A manifest the policy refused.
    pub fn manifest_policy(e: ManifestError) -> Self {
        Self::ManifestPolicy(SharedError::new(e))
    }
}

/// Where a rejected input came from.
///
/// Shown (and serialized) as before the type existed: the relay URL, `origin <node id>`,
/// `mirror <node id>`, `https <url>`, the local source's name, or `blob pipeline`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RejectionSource {
    /// A Nostr relay, by URL.
    Relay(String),
    /// An iroh node that served blobs (the entry's origin or a mirror), by node id (hex).
    Node {
        /// Origin or mirror.
        kind: SourceKind,
        /// The node id (hex).
        id: String,
    },
    /// An HTTPS origin, by base URL.
    Https(String),
    /// Handed in by this node itself: a replay of its local event database, or an event
    /// given to [`crate::Discovery::ingest_event`], by the name it was given.
    Local(String),
    /// The blob stage, refusing an entry for its blobs (manifest, sizes).
    BlobStage,
}

impl RejectionSource {
    /// The same, with its text bounded to what the audit log keeps.
    pub fn bounded(self) -> Self {
        let cut = |s: String| s.chars().take(MAX_SOURCE_CHARS).collect::<String>();
        match self {
            Self::Relay(s) => Self::Relay(cut(s)),
            Self::Node { kind, id } => Self::Node { kind, id: cut(id) },
            Self::Https(s) => Self::Https(cut(s)),
            Self::Local(s) => Self::Local(cut(s)),
            Self::BlobStage => Self::BlobStage,
        }
    }
}

impl fmt::Display for RejectionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Relay(url) => f.write_str(url),
            Self::Node { kind, id } => write!(f, "{} {id}", kind.as_str()),
            Self::Https(url) => write!(f, "https {url}"),
            Self::Local(name) => f.write_str(name),
            Self::BlobStage => f.write_str("blob pipeline"),
        }
    }
}

impl Serialize for RejectionSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One recorded rejection: what, why, and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// [`Reason::code`].
    pub code: &'static str,
    /// The full reason, in words.
    pub reason: String,
    /// The kind of audit record ([`Reason::category`]).
    #[serde(skip)]
    pub category: AuditCategory,
    /// Nostr event id (hex), when the input was an event.
    pub event_id: Option<String>,
    /// Relay, peer or HTTPS origin that delivered it.
    pub source: RejectionSource,
    /// `d` tag or blob hash the input claimed to be about, when known.
    pub subject: Option<String>,
    /// Unix seconds.
    pub at: u64,
    /// Names the refused input (an event id, a signed payload, a blob from one source):
    /// the audit log records one row per key. `None` records every time.
    #[serde(skip)]
    pub key: Option<atoll_registry::Hash>,
    /// The DID whose own doing the input provably is ([`Reason::provable_by_signer`]): the
    /// catalog records a `forged` penalty against it. Never set for a bad signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributed_to: Option<atoll_registry::Did>,
}

impl Rejection {
    /// A record of `reason` for input from `source` (reason and source bounded).
    pub fn new(reason: &Reason, source: RejectionSource) -> Self {
        Self {
            code: reason.code(),
            reason: reason.to_string().chars().take(MAX_REASON_CHARS).collect(),
            category: reason.category(),
            event_id: None,
            source: source.bounded(),
            subject: None,
            at: crate::now_secs(),
            key: None,
            attributed_to: None,
        }
    }

    /// The same, about this input.
    pub fn keyed(mut self, key: atoll_registry::Hash) -> Self {
        self.key = Some(key);
        self
    }
}

impl PartialEq for Rejection {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.reason == other.reason
            && self.category == other.category
            && self.event_id == other.event_id
            && self.source == other.source
            && self.subject == other.subject
            && self.key == other.key
            && self.attributed_to == other.attributed_to
    }
}

/// Equal when everything but the time is.
impl Eq for Rejection {}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} (from {})", self.code, self.reason, self.source)
    }
}

/// Pipeline counters, shared by every task of a node. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    inner: Arc<Mutex<CounterState>>,
}

#[derive(Debug, Default, Clone, Serialize)]
struct CounterState {
    events_seen: u64,
    events_ignored: u64,
    duplicates: u64,
    objects_stored: u64,
    entries_accepted: u64,
    blobs_fetched: u64,
    blob_bytes_fetched: u64,
    rejected: BTreeMap<&'static str, u64>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Events handed to the pipeline (every relay, before dedup).
    pub events_seen: u64,
    /// Events that are not atoll events (another kind or no `t=atoll`).
    pub events_ignored: u64,
    /// Events whose signed object was already known.
    pub duplicates: u64,
    /// Signed objects the catalog stored (entries, profiles, endorsements, announcements).
    pub objects_stored: u64,
    /// Entries whose blobs were fetched, verified and passed the manifest policy.
    pub entries_accepted: u64,
    /// Blobs fetched and verified.
    pub blobs_fetched: u64,
    /// Bytes of those blobs.
    pub blob_bytes_fetched: u64,
    /// Rejections by [`Reason::code`].
    pub rejected: BTreeMap<String, u64>,
}

impl CounterSnapshot {
    /// Rejections with one code.
    pub fn rejected(&self, code: &str) -> u64 {
        self.rejected.get(code).copied().unwrap_or(0)
    }
}

macro_rules! bump {
    ($(#[$doc:meta])* $name:ident, $field:ident) => {
        $(#[$doc])*
        pub fn $name(&self, n: u64) {
            if let Ok(mut s) = self.inner.lock() {
                s.$field = s.$field.saturating_add(n);
            }
        }
    };
}

impl Counters {
    bump!(
        /// Count events seen.
        events_seen, events_seen
    );
    bump!(
        /// Count events ignored.
        events_ignored, events_ignored
    );
    bump!(
        /// Count duplicates.
        duplicates, duplicates
    );
    bump!(
        /// Count stored objects.
        objects_stored, objects_stored
    );
    bump!(
        /// Count accepted entries.
        entries_accepted, entries_accepted
    );

    /// Count one verified blob of `bytes` bytes.
    pub fn blob_fetched(&self, bytes: u64) {
        if let Ok(mut s) = self.inner.lock() {
            s.blobs_fetched += 1;
            s.blob_bytes_fetched = s.blob_bytes_fetched.saturating_add(bytes);
        }
    }

    /// Count one rejection.
    pub fn rejected(&self, reason: &Reason) {
        if let Ok(mut s) = self.inner.lock() {
            *s.rejected.entry(reason.code()).or_default() += 1;
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> CounterSnapshot {
        let s = self.inner.lock().map(|s| s.clone()).unwrap_or_default();
        CounterSnapshot {
            events_seen: s.events_seen,
            events_ignored: s.events_ignored,
            duplicates: s.duplicates,
            objects_stored: s.objects_stored,
            entries_accepted: s.entries_accepted,
            blobs_fetched: s.blobs_fetched,
            blob_bytes_fetched: s.blob_bytes_fetched,
            rejected: s
                .rejected
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }
}

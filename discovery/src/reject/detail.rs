//! The typed details of a [`super::Reason`]: what exactly was wrong, with the registry's
//! own error as the source where there is one.

use std::fmt;
use std::sync::Arc;

use atoll_registry::{DidError, EnvelopeError, ManifestError};

use super::RejectionSource;

/// A registry error shared by the copies of one [`super::Reason`] (reasons are cloned into
/// the counters, the recent list and the audit log). Equal when their texts are equal.
#[derive(Debug)]
pub struct SharedError<E>(Arc<E>);

impl<E> SharedError<E> {
    /// Wrap an error.
    pub fn new(e: E) -> Self {
        Self(Arc::new(e))
    }

    /// The error.
    pub fn get(&self) -> &E {
        &self.0
    }
}

impl<E> Clone for SharedError<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<E: fmt::Display> PartialEq for SharedError<E> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl<E: fmt::Display> Eq for SharedError<E> {}

impl<E: fmt::Display> fmt::Display for SharedError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::error::Error> std::error::Error for SharedError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Why an event is not an atoll event of a known shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The event has no `d` tag.
    #[error("no d tag")]
    NoDTag,
    /// The `d` tag is not `atoll:<type>:did:key:…[:…]`.
    #[error("d tag {tag:?}: {problem}")]
    DTag {
        /// The tag (at most 160 characters of it).
        tag: String,
        /// What is wrong with it.
        problem: DTagProblem,
    },
    /// The content is not a signed envelope.
    #[error("content is not a signed envelope: {0}")]
    NotEnvelope(#[source] SharedError<EnvelopeError>),
    /// The event JSON does not parse (nostr's own message).
    #[error("{0}")]
    Json(String),
    /// A relay sent a frame that is not a relay message.
    #[error("the relay sent a frame that is not a relay message ({size} bytes): {detail}")]
    Frame {
        /// Size of the frame.
        size: usize,
        /// nostr's parse message (at most 160 characters of it).
        detail: String,
    },
}

/// What is wrong with a `d` tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DTagProblem {
    /// Longer than 512 bytes.
    #[error("longer than 512 bytes")]
    TooLong,
    /// Does not start with `atoll:`.
    #[error("not atoll:<type>:…")]
    NotAtoll,
    /// No `:` after the type.
    #[error("no type")]
    NoType,
    /// A type atoll does not know.
    #[error("unknown type")]
    UnknownType,
    /// No `did:key:` after the type.
    #[error("no did:key after the type")]
    NoDid,
    /// The DID does not parse.
    #[error("{0}")]
    BadDid(#[source] SharedError<DidError>),
    /// A `:` with nothing after it.
    #[error("empty suffix")]
    EmptySuffix,
}

/// How the `d` tag and the signed payload disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceMismatch {
    /// The tag names another payload type than the envelope carries.
    #[error("d tag says {tagged}, the payload is {found:?}")]
    PayloadType {
        /// The type the tag names.
        tagged: &'static str,
        /// The envelope's payload type (at most 64 characters of it).
        found: String,
    },
    /// The tag names another DID or app than the signed payload.
    #[error("d tag is {tagged}, the signed payload belongs under {expected}")]
    Subject {
        /// The tag.
        tagged: String,
        /// The tag the payload belongs under.
        expected: String,
    },
}

/// How a manifest and the entry that names it disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestMismatch {
    /// Another app id.
    #[error("the entry is for app {entry:?}, the manifest is {manifest:?}")]
    App {
        /// The entry's app id.
        entry: String,
        /// The manifest's id.
        manifest: String,
    },
    /// Another version.
    #[error("the entry is version {entry}, the manifest {manifest}")]
    Version {
        /// The entry's version.
        entry: String,
        /// The manifest's version.
        manifest: String,
    },
    /// The manifest names a local file the entry has no artifact for.
    #[error("the manifest names {0:?}, the entry has no artifact for it")]
    MissingArtifact(String),
}

/// What is wrong with a blob's size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobSizeProblem {
    /// A source sent more bytes than the signed entry names (the source is blamed).
    #[error("{from} sent {sent} bytes, more than the {signed} the entry names")]
    SourceSentMore {
        /// The source.
        from: RejectionSource,
        /// Bytes it sent.
        sent: u64,
        /// Bytes the entry names.
        signed: u64,
    },
    /// The blob held is not the size the entry names (the entry is wrong).
    #[error("the blob is {held} bytes, the entry says {signed}")]
    Differs {
        /// Its size.
        held: u64,
        /// The size the entry names.
        signed: u64,
    },
}

/// A manifest blob the policy refused.
pub type ManifestRefusal = SharedError<ManifestError>;

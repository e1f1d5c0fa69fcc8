//! Blobs over iroh: the node's endpoint and store ([`BlobNode`]) and the fetcher with the
//! origin-then-mirrors policy ([`Fetcher`]), reporting its progress ([`ProgressSender`]).

mod fetch;
pub mod limit;
mod node;
mod progress;

pub(crate) use fetch::{joined, retry_delay};
pub use fetch::{
    AttemptFailure, BlobSource, FailedAttempt, FetchError, FetchOutcome, Fetcher, SourceKind,
};
pub use node::{BlobNode, BlobNodeError, DEFAULT_GC_INTERVAL};
pub use progress::{BlobProgress, FetchPath, FetchProgress, FetchState, ProgressSender};

/// The iroh-blobs hash of an atoll hash (both are BLAKE3 of the bytes).
pub fn to_iroh(hash: &atoll_registry::Hash) -> iroh_blobs::Hash {
    iroh_blobs::Hash::from_bytes(*hash.as_bytes())
}

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
pub use node::{BlobNode, BlobNodeError, ExtraProtocol, HomeRelay, DEFAULT_GC_INTERVAL};
pub use progress::{BlobProgress, FetchPath, FetchProgress, FetchState, ProgressSender};

/// The iroh-blobs hash of an atoll hash (both are BLAKE3 of the bytes).
pub fn to_iroh(hash: &atoll_registry::Hash) -> iroh_blobs::Hash {
    iroh_blobs::Hash::from_bytes(*hash.as_bytes())
}

/// Parse an iroh relay URL: `http://` or `https://` with a host, within the bounds of
/// [`atoll_registry::objects::is_relay_url`]. The error says why, for config messages.
pub fn parse_relay_url(url: &str) -> Result<iroh::RelayUrl, String> {
    if !atoll_registry::objects::is_relay_url(url) {
        return Err(format!(
            "not an http:// or https:// URL with a host, of at most {} characters",
            atoll_registry::objects::MAX_RELAY_URL_LEN
        ));
    }
    let parsed: iroh::RelayUrl = url
        .parse()
        .map_err(|e: iroh::RelayUrlParseError| e.to_string())?;
    match (parsed.scheme(), parsed.host()) {
        ("http" | "https", Some(_)) => Ok(parsed),
        _ => Err("not an http:// or https:// URL with a host".into()),
    }
}

/// The URLs of `urls` (from a signed entry or announcement) that parse as relay URLs, at
/// most [`atoll_registry::objects::MAX_RELAY_URLS`].
pub fn relay_urls(urls: &[String]) -> Vec<iroh::RelayUrl> {
    urls.iter()
        .filter_map(|u| parse_relay_url(u).ok())
        .take(atoll_registry::objects::MAX_RELAY_URLS)
        .collect()
}

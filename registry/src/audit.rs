//! What every store and every node agrees on about refused input: the audit key that
//! names one refused input, the bounds of an audit record, and how far ahead of the
//! clock a relay cursor may be.
//!
//! The sync pipeline (`atoll-discovery`) computes keys and the catalog (`atoll-catalog`)
//! stores and compares them, so both take them from here: neither crate depends on the
//! other.

use crate::Hash;

/// Longest reason kept in an audit record, in characters.
pub const MAX_REASON_CHARS: usize = 1024;
/// Longest source (relay URL, peer) kept in an audit record, in characters.
pub const MAX_SOURCE_CHARS: usize = 256;

/// How far ahead of this node's clock a relay cursor may be (relays' and publishers'
/// clocks differ a little). The pipeline caps the cursors it moves at now + this, and the
/// catalog stores no more and heals a cursor found beyond it.
pub const MAX_CURSOR_SKEW_SECS: u64 = 300;

/// The key of a refused input: BLAKE3 over a domain (what kind of thing was refused) and
/// the parts that name it. Two deliveries of the same input have the same key.
pub fn key(domain: &str, parts: &[&[u8]]) -> Hash {
    let mut bytes = b"atoll-audit-key-v1\0".to_vec();
    for p in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
        bytes.extend_from_slice(&(p.len() as u64).to_le_bytes());
        bytes.extend_from_slice(p);
    }
    Hash::of(&bytes)
}

/// The audit key under which an entry refused for its manifest is remembered.
pub fn refused_entry_key(payload_id: &Hash) -> Hash {
    key("refused-entry", &[payload_id.as_bytes()])
}

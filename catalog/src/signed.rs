//! The exact signed bytes that are stored and served again.

use atoll_registry::Verified;

/// The canonical (RFC 8785) bytes of a verified envelope.
///
/// A canonical envelope is `{"payload":<canonical payload>,"signatures":[{"did":..,"sig":..}]}`
/// (keys sorted, no whitespace), and the canonical payload is already in hand from
/// verification, so the bytes are assembled directly instead of re-canonicalising the whole
/// JSON tree (which costs as much as a signature check). DIDs are base58 and signatures
/// base64url, which need no JSON escaping; anything else falls back to the general
/// canonicaliser. A test checks both paths give the same bytes.
pub(crate) fn envelope_bytes<T>(
    v: &Verified<T>,
) -> Result<Vec<u8>, atoll_registry::canonical::CanonicalError> {
    let sigs = &v.envelope().signatures;
    let plain = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_'))
    };
    let dids: Vec<String> = sigs.iter().map(|s| s.did.to_string()).collect();
    if !(dids.iter().all(|d| plain(d)) && sigs.iter().all(|s| plain(&s.sig))) {
        return v.envelope_bytes();
    }
    let payload = v.canonical_payload();
    let mut out = Vec::with_capacity(payload.len() + 32 + sigs.len() * 160);
    out.extend_from_slice(b"{\"payload\":");
    out.extend_from_slice(payload);
    out.extend_from_slice(b",\"signatures\":[");
    for (i, (s, did)) in sigs.iter().zip(&dids).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"did\":\"");
        out.extend_from_slice(did.as_bytes());
        out.extend_from_slice(b"\",\"sig\":\"");
        out.extend_from_slice(s.sig.as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}
